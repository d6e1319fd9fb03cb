"""The outputs page takes its duration limits from the configuration's constants
(#17: the limits were written out by hand in the template)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.config import MAX_MS, MIN_MS


def test_the_outputs_form_uses_the_configurations_limits(client: TestClient) -> None:
    page = client.get("/outputs")
    assert page.status_code == 200, page.text[:300]
    outputs = page.text.count('name="pulse_on_ms"')
    assert outputs == 4  # the default board
    # pulse on and off of each output, in milliseconds
    assert page.text.count(f'min="{MIN_MS}" max="{MAX_MS}"') == 2 * outputs
    # hold and minimum off of each output, and the button's pulse, in seconds (#19)
    assert page.text.count(f'min="0" max="{MAX_MS / 1000}"') == 2 * outputs
    assert page.text.count(f'min="{MIN_MS / 1000}" max="{MAX_MS / 1000}"') == 1
    assert "{{" not in page.text
