"""State shared by the steps of one apply: drafts, name resolution and problem reporting."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from guestmeta.apply.fields import Fields, json_type
from guestmeta.apply.source import Document, RawItem
from guestmeta.model import InvalidItem, Topology, noun
from guestmeta.model.errors import shown


@dataclass
class Draft:
    """One item of a file, with the id it will have in the store."""

    raw: RawItem
    f: Fields
    id: str


@dataclass
class Context:
    current: Topology
    documents: list[Document]
    prune: bool
    now: datetime
    lines: list[str] = field(default_factory=list)
    drafts: dict[str, list[Draft]] = field(default_factory=lambda: defaultdict(list))
    where: dict[tuple[str, str], RawItem] = field(default_factory=dict)
    new: Topology = field(default_factory=Topology)
    # Filled in once every item has its id: the ids of each kind, and name -> ids.
    ids: dict[str, set[str]] = field(default_factory=dict)
    names: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    stored_index: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    # Items refused while building, and ids made up in this apply, both as (kind, id).
    failed: set[tuple[str, str]] = field(default_factory=set)
    generated: dict[tuple[str, str], RawItem] = field(default_factory=dict)

    def report(self, raw: RawItem, field_name: str, message: str) -> None:
        self.lines.append(f"{raw.path}: {raw.label}: {field_name}: {message}")

    def flush(self, draft: Draft) -> None:
        for field_name, message in draft.f.errors:
            self.report(draft.raw, field_name, message)
        draft.f.errors.clear()

    def mention(self, kind: str, ident: str) -> str:
        """How a message names an item: by where it is written when its id is new."""
        raw = self.generated.get((kind, ident))
        return f"{raw.path}: {raw.label}" if raw else f"{noun(kind)} {ident}"

    def build(
        self, draft: Draft, cls: type, aliases: dict[str, str] | None = None, **kwargs: Any
    ) -> Any:
        """Construct a model object, turning its field checks into lines.

        An item with any problem is left out of the new state and remembered, so the
        checks of the whole do not report its absence again as "unknown" elsewhere.
        """
        had_errors = bool(draft.f.errors)
        self.flush(draft)
        try:
            item = cls(**kwargs)
        except InvalidItem as exc:
            for err in exc.errors:
                field_name = (aliases or {}).get(err.field, err.field)
                self.report(draft.raw, field_name, err.message)
            item = None
        if item is None or had_errors:
            self.failed.add((draft.raw.kind, draft.id))
            return None
        return item

    def retained(self, kind: str) -> dict[str, Any]:
        pruned = self.prune and any(kind in doc.kinds for doc in self.documents)
        if pruned:
            return {}
        drafted = {d.id for d in self.drafts[kind]}
        return {k: v for k, v in self.current.collection(kind).items() if k not in drafted}

    def resolve(self, f: Fields, field_name: str, kind: str, value: str) -> str | None:
        if value in self.ids[kind]:
            return value
        matches = self.names[kind].get(value, [])
        if len(matches) == 1:
            return matches[0]
        if matches:
            f.error(
                field_name, f"{shown(value)} is ambiguous: {len(matches)} {kind} have that name"
            )
        else:
            f.error(field_name, f"unknown {noun(kind)} {shown(value)}")
        return None

    def ref(self, f: Fields, kind: str, *keys: str, required: bool = False) -> str | None:
        value = f.text(*keys)
        if not value:
            if required and not f.has(*keys):
                f.error(keys[0], "is required")
            elif required:
                f.error(keys[0], "must not be empty")
            return None
        return self.resolve(f, keys[0], kind, value)

    def strings(self, f: Fields, key: str) -> list[str]:
        out = []
        for i, value in enumerate(f.items(key) or []):
            if isinstance(value, str):
                out.append(value)
            else:
                f.error(f"{key}[{i}]", f"must be a string, not {json_type(value)}")
        return out
