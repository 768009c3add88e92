"""Reading apply files: YAML or JSON, from paths or stdin, shaped like OpenStack API bodies.

Accepts the collection bodies (``{"ports": [...]}``), single-item bodies
(``{"port": {...}}``) and Nova's wrapped keypair list (``{"keypairs": [{"keypair": {...}}]}``),
so responses saved from a real API apply as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from guestmeta.apply.fields import json_type
from guestmeta.apply.safe_load import SourceError, display_name, parse_text, read_text
from guestmeta.model.errors import plain, shown
from guestmeta.model.kinds import BODY_KEYS, FILE_KINDS

__all__ = ["Document", "RawItem", "SourceError", "load_document"]


@dataclass(frozen=True)
class RawItem:
    path: str
    kind: str
    index: int
    data: dict[str, Any]

    @property
    def label(self) -> str:
        name = self.data.get("name")
        ident = name if isinstance(name, str) and name else self.data.get("id")
        suffix = f" ({plain(ident)})" if isinstance(ident, str) and ident else ""
        return f"{self.kind}[{self.index}]{suffix}"


@dataclass(frozen=True)
class Document:
    path: str
    items: list[RawItem]
    kinds: frozenset[str]


def load_document(path: str, text: str | None = None) -> Document:
    """Parse one file into raw items; structural problems raise SourceError with every line."""
    name = display_name(path)
    data = parse_text(path, read_text(path) if text is None else text)
    if data is None:
        return Document(name, [], frozenset())
    if not isinstance(data, dict):
        raise SourceError(
            f"{name}: top level must be a mapping of collections such as 'ports', "
            f"not {json_type(data)}"
        )
    problems: list[str] = []
    items: list[RawItem] = []
    kinds: set[str] = set()
    for key, value in data.items():
        if key in BODY_KEYS:
            kind, entries = BODY_KEYS[key], [value]
        elif key in FILE_KINDS:
            kind, entries = key, value
        elif key.removesuffix("_links") in FILE_KINDS:
            continue  # pagination links of a saved API page
        else:
            problems.append(
                f"{name}: unknown top-level key {shown(key)} "
                f"(expected one of {', '.join(FILE_KINDS)})"
            )
            continue
        if entries is None:
            entries = []
        if not isinstance(entries, list):
            problems.append(f"{name}: {key}: must be a list, not {json_type(entries)}")
            continue
        kinds.add(kind)
        for index, entry in enumerate(entries):
            if kind == "keypairs" and isinstance(entry, dict) and set(entry) == {"keypair"}:
                entry = entry["keypair"]  # Nova wraps each keypair of its list
            if not isinstance(entry, dict):
                problems.append(
                    f"{name}: {kind}[{index}]: must be a mapping, not {json_type(entry)}"
                )
                continue
            items.append(RawItem(name, kind, index, entry))
    if problems:
        raise SourceError("\n".join(problems))
    return Document(name, items, frozenset(kinds))
