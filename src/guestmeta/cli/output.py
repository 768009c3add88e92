"""Printing results: stable JSON for scripts, a rich table for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table


def as_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(cell(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={cell(v)}" for k, v in value.items())
    return str(value)


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
            table.add_row(key, cell(value))
    console.print(table)
    for key, columns in nested.items():
        if data.get(key):
            sub = Table(title=key, title_justify="left")
            for column in columns:
                sub.add_column(column)
            for row in data[key]:
                sub.add_row(*(cell(row.get(c)) for c in columns))
            console.print(sub)
