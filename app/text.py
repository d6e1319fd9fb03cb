"""Text from outside: one rule for names, one way to print them.

A name (a user, an API token, an input, an output, a schedule) ends up in the
event log, the console, the journal and ``alarmbridge events``. A newline in it
would forge a line there, a bidi override would make it read backwards, NUL cuts
it short in C tools, and a name of three spaces names nothing. So every name is a
:data:`Name`: not blank, and no control, line-separator or bidi-control
character. Free text that may be empty (a DVR channel, a note) is :data:`Text`.

Whatever reaches a terminal or a log line goes through :func:`printable`, which
spells such characters out (``\\n``, ``\\u202e``) instead of obeying them: the
event log may hold text from before these rules.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field

# C0 and C1 controls (DEL too), the line and paragraph separators, the bidi
# controls (ALM, LRM, RLM, LRE..RLO, LRI..PDI), the invisible zero-width space and
# byte-order mark, and lone surrogates (which cannot even be written as UTF-8).
_UNSAFE_CLASS = (
    "\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200b\\u200e\\u200f\\u2028-\\u202e\\u2066-\\u2069"
    "\\ufeff\\ud800-\\udfff"
)
UNSAFE = re.compile(f"[{_UNSAFE_CLASS}]")
#: the same rule for the OpenAPI document (surrogates left out: JSON Schema
#: validators read patterns as Unicode code points)
SAFE_PATTERN = "^[^" + _UNSAFE_CLASS.replace("\\ud800-\\udfff", "") + "]*$"

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(value: Any) -> str:
    """``value`` as text that prints as one line and reads as stored.

    >>> printable("IN1"), printable("admin\\nfake line"), printable("abc\\u202edef")
    ('IN1', 'admin\\\\nfake line', 'abc\\\\u202edef')
    >>> printable(None), printable(3)
    ('None', '3')
    """
    text = str(value)
    if not UNSAFE.search(text):
        return text
    return UNSAFE.sub(lambda m: _ESCAPES.get(m[0]) or f"\\u{ord(m[0]):04x}", text)


def check_text(value: str) -> str:
    """``value``, unless it holds a character :data:`UNSAFE` refuses."""
    found = UNSAFE.search(value)
    if found:
        raise ValueError(
            f"must not contain control or bidi characters (found {printable(found[0])} "
            f"at position {found.start() + 1})"
        )
    return value


def check_name(value: str) -> str:
    """``value`` as a name: safe text that is not blank.

    >>> check_name("Front door")
    'Front door'
    >>> check_name("   ")
    Traceback (most recent call last):
    ...
    ValueError: must not be blank
    """
    check_text(value)
    if not value.strip():
        raise ValueError("must not be blank")
    return value


_SCHEMA = {"pattern": SAFE_PATTERN}

#: free text that may be empty (give it a max_length where it is used)
Text = Annotated[str, Field(json_schema_extra=_SCHEMA), AfterValidator(check_text)]

#: a name: 1-40 characters, not blank, no control or bidi characters
Name = Annotated[
    str,
    Field(min_length=1, max_length=40, json_schema_extra=_SCHEMA),
    AfterValidator(check_name),
]
