"""Vendor data: operator-supplied JSON for every guest, a project's guests, or one guest.

Nova gets vendor data from a static JSON file or from REST calls. Here it is a directory
an operator fills with plain files, so it can live in configuration management::

    DIR/vendor_data.json                       every server
    DIR/vendor_data2.json
    DIR/projects/<project_id>/vendor_data.json   servers of one project
    DIR/servers/<server_id>/vendor_data2.json    one server

For each file name, the per-server object overrides the per-project one, which overrides
the global one, key by key at the top level. Guests get ``vendor_data.json`` as merged, and
``vendor_data2.json`` as Nova builds it: ``{"static": <vendor_data.json>, <the merged
vendor_data2.json's targets>...}`` (the targets standing for Nova's dynamic providers).

A missing file (or no directory at all) is never an error, unlike Nova, which fails the
config drive when its static provider has no file; the result is then ``{}``. A file
that is not a JSON object is an error naming the file, because serving half of an
operator's intent silently is worse than refusing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VENDOR_DATA = "vendor_data.json"
VENDOR_DATA2 = "vendor_data2.json"
FILES = (VENDOR_DATA, VENDOR_DATA2)


class VendorDataError(ValueError):
    """A vendor data file that cannot be used; the message is one line naming the file."""


@dataclass(frozen=True)
class VendorData:
    """The operator's vendor data directory (``None``: nothing configured)."""

    root: Path | None = None

    @classmethod
    def from_dir(cls, path: str | Path | None) -> VendorData:
        """Vendor data from ``path``; the directory must exist when it is given."""
        if path is None or str(path) == "":
            return cls(None)
        root = Path(path)
        if not root.is_dir():
            raise VendorDataError(f"vendor data directory {root} does not exist")
        return cls(root)

    def for_server(self, project_id: str | None, server_id: str) -> dict[str, dict[str, Any]]:
        """File name -> the merged JSON object for one server (``{}`` when nothing is set)."""
        return {name: self.merged(name, project_id, server_id) for name in FILES}

    def as_served(self, project_id: str | None, server_id: str) -> dict[str, dict[str, Any]]:
        """File name -> the object guests get: ``vendor_data.json`` is the merged file (Nova's
        static vendor data); ``vendor_data2.json`` holds it under ``static``, then the
        merged ``vendor_data2.json``'s other targets, as Nova merges its providers (a
        target named ``static`` cannot replace the static data)."""
        files = self.for_server(project_id, server_id)
        static = files[VENDOR_DATA]
        targets = {k: v for k, v in files[VENDOR_DATA2].items() if k != "static"}
        return {VENDOR_DATA: static, VENDOR_DATA2: {"static": static, **targets}}

    def merged(self, name: str, project_id: str | None, server_id: str) -> dict[str, Any]:
        result: dict[str, Any] = {}
        if self.root is None:
            return result
        layers = [self.root]
        if project_id and _safe(project_id):
            layers.append(self.root / "projects" / project_id)
        if _safe(server_id):
            layers.append(self.root / "servers" / server_id)
        for layer in layers:
            result.update(_load(layer / name))
        return result


def _safe(part: str) -> bool:
    """Whether an id can name a directory without escaping the vendor data tree."""
    return part not in ("", ".", "..") and "/" not in part and "\0" not in part


class _NotJSON(ValueError):
    pass


def _no_constant(name: str) -> Any:
    """Python's json reads NaN and Infinity; guests' strict parsers refuse the document."""
    raise _NotJSON(f"{name} is not a JSON value")


def _load(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):  # a missing file is never an error
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise VendorDataError(f"{path}: cannot be read: {exc}") from None
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise VendorDataError(
            f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except _NotJSON as exc:
        raise VendorDataError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise VendorDataError(f"{path}: must hold a JSON object, not {type(data).__name__}")
    return data
