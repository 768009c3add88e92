"""Printing results: stable JSON for scripts, a rich table for people.

Table cells hold names from files and domain XML that anyone may have written: each is a
plain ``Text`` (rich would read ``[red]`` or ``[/]`` in a string as markup, and the latter
ends the command with a traceback) with its control characters escaped.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text


def as_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)


def printable(text: str) -> str:
    """``text`` with each control (or other unprintable) character escaped as ``repr`` does."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(cell_text(v) for v in value)  # one line per entry, on purpose
    if isinstance(value, dict):
        return ", ".join(f"{printable(str(k))}={cell_text(v)}" for k, v in value.items())
    return printable(str(value))


def cell(value: Any) -> Text:
    return Text(cell_text(value))


def print_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str) -> None:
    if fmt == "json":
        sys.stdout.write(as_json(list(rows)) + "\n")
        return
    table = Table(show_lines=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(cell(row.get(c)) for c in columns))
    Console(width=200 if not sys.stdout.isatty() else None).print(table)


def print_object(
    data: dict[str, Any], fmt: str, nested: Mapping[str, Sequence[str]] | None = None
) -> None:
    """One item as field/value pairs; lists of mappings named in ``nested`` as tables below."""
    if fmt == "json":
        sys.stdout.write(as_json(data) + "\n")
        return
    nested = nested or {}
    console = Console(width=200 if not sys.stdout.isatty() else None)
    table = Table(show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in data.items():
        if key not in nested:
            table.add_row(Text(printable(key)), cell(value))
    console.print(table)
    for key, columns in nested.items():
        if data.get(key):
            sub = Table(title=key, title_justify="left")
            for column in columns:
                sub.add_column(column)
            for row in data[key]:
                sub.add_row(*(cell(row.get(c)) for c in columns))
            console.print(sub)
