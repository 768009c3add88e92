"""Reading apply files: YAML or JSON, from paths or stdin, shaped like OpenStack API bodies.

Accepts the collection bodies (``{"ports": [...]}``), single-item bodies
(``{"port": {...}}``) and Nova's wrapped keypair list (``{"keypairs": [{"keypair": {...}}]}``),
so responses saved from a real API apply as they are.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from guestmeta.apply.fields import json_type
from guestmeta.model.kinds import BODY_KEYS, FILE_KINDS

try:  # libyaml is many times faster on large dumps; fall back to the pure loader.
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


class SourceError(ValueError):
    """A file that cannot be read as a mapping of collections; one line, naming the file."""


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
        suffix = f" ({ident})" if isinstance(ident, str) and ident else ""
        return f"{self.kind}[{self.index}]{suffix}"


@dataclass(frozen=True)
class Document:
    path: str
    items: list[RawItem]
    kinds: frozenset[str]


def read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SourceError(f"{path}: is a directory") from None
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror})") from None


def parse_text(path: str, text: str) -> Any:
    name = "<stdin>" if path == "-" else path
    if name.endswith(".json") or text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise SourceError(
                f"{name}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None
    try:
        return yaml.load(text, Loader=_Loader)  # a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SourceError(f"{name}: not valid YAML: {problem}{where}") from None


def load_document(path: str, text: str | None = None) -> Document:
    """Parse one file into raw items; structural problems raise SourceError with every line."""
    name = "<stdin>" if path == "-" else path
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
                f"{name}: unknown top-level key {key!r} (expected one of {', '.join(FILE_KINDS)})"
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
