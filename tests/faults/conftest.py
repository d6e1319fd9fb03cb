"""Fault injection (issue 7). Every scenario has a short variant, run by ``make test``,
and a full one marked ``faults_full``, run by ``make faults``; each leaves its
measured figures in ``test-artifacts/faults/<test>[<variant>].json``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.faults.harness import save_figures


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """What the scenario measured; saved when it ends, passed or not."""
    found: dict[str, Any] = {}
    yield found
    save_figures(request.node.name, found)
