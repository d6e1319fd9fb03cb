"""What the commissioning pieces of the pages need (issue #19): the recorder
profiles, as objects for the templates and as JSON for commission.js."""

from __future__ import annotations

import json
from typing import Any

from app.recorders import PROFILES


def template_globals() -> dict[str, Any]:
    profiles = {
        key: {
            "title": p.title,
            "menu": p.menu,
            "close": p.close,
            "open": p.open,
            "verified": p.verified,
            "source": p.source,
        }
        for key, p in PROFILES.items()
    }
    # "</" cannot end the <script> element it is put in
    text = json.dumps(profiles, ensure_ascii=True).replace("</", "<\\/")
    return {"PROFILES": PROFILES, "profiles_json": text}
