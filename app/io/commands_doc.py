"""The command table of docs/io-protocol.md, made from the models in app/io/commands.py.

    python -m app.io.commands_doc                             # print it
    python -m app.io.commands_doc --write docs/io-protocol.md # update the doc in place

tests/io/test_commands.py fails when the doc and the models differ.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic.fields import FieldInfo

from app.io.commands import COMMANDS

BEGIN = "<!-- commands: made by 'python -m app.io.commands_doc --write docs/io-protocol.md' -->"
END = "<!-- end of commands -->"


def _limits(metadata: list[Any]) -> str:
    low = next((m.ge for m in metadata if isinstance(m, annotated_types.Ge)), None)
    high = next((m.le for m in metadata if isinstance(m, annotated_types.Le)), None)
    if low is not None and high is not None:
        return f"{low:,} .. {high:,}"
    return f"{low:,} or more" if low is not None else ""


def _argument(name: str, field: FieldInfo) -> str:
    notes: list[str] = []
    annotation = field.annotation
    if get_origin(annotation) is Literal:
        notes.append("one of " + ", ".join(f"`{v}`" for v in get_args(annotation)))
    metadata = list(field.metadata)
    for member in get_args(annotation) if get_origin(annotation) in (Union, UnionType) else ():
        for extra in get_args(member)[1:]:  # X | None: X's own limits
            metadata += extra.metadata if isinstance(extra, FieldInfo) else []
    if limits := _limits(metadata):
        notes.append(limits)
    if field.description:
        notes.append(field.description)
    if isinstance(field.default, str):
        notes.append(f"default `{field.default}`")
    return f"`{name}`" + (f" ({'; '.join(notes)})" if notes else "")


def table() -> str:
    """The command table of docs/io-protocol.md, from the models."""
    rows = ["| cmd | arguments | result |", "|---|---|---|"]
    for name, model in COMMANDS.items():
        arguments = ", ".join(_argument(n, f) for n, f in model.model_fields.items())
        result = " ".join(inspect.cleandoc(model.__doc__ or "").split())
        rows.append(f"| `{name}` | {arguments} | {result} |")
    return "\n".join(rows) + "\n"


def with_table(document: str) -> str:
    """``document`` with the text between its markers replaced by :func:`table`."""
    head, begin, rest = document.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"the document has no {BEGIN!r} ... {END!r} markers")
    return f"{head}{BEGIN}\n{table()}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The io socket's command table (markdown).")
    parser.add_argument("--write", type=Path, metavar="DOC", help="update DOC's table in place")
    args = parser.parse_args(argv)
    if args.write is None:
        sys.stdout.write(table())
    else:
        args.write.write_text(with_table(args.write.read_text()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
