"""Turning apply files into the next state of the store, or into one line per problem.

An apply is declarative: each item in the files is the whole truth about that item,
except for what guestmeta generates (ids, MACs, fixed addresses, creation times),
which an item keeps from the store once it has them. Items are matched to stored
ones by id, or by name when the file gives none, so a hand-written file applies
the same way twice. Nothing here touches the store: the result is a new Topology
and the list of changes, or an ApplyError carrying every problem.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime

from guestmeta.apply.context import Draft
from guestmeta.apply.errors import ApplyError
from guestmeta.apply.fields import Fields
from guestmeta.apply.networks import NetworkSteps
from guestmeta.apply.ports import PortSteps
from guestmeta.apply.servers import ServerSteps
from guestmeta.apply.source import Document, RawItem
from guestmeta.model import KINDS, Plan, Topology, noun
from guestmeta.model.errors import shown


class _Planner(NetworkSteps, PortSteps, ServerSteps):
    def stored_names(self, kind: str) -> dict[str, list[str]]:
        """Stored items of ``kind`` by name, built once per kind."""
        index = self.stored_index.get(kind)
        if index is None:
            index = self.stored_index[kind] = defaultdict(list)
            for item in self.current.collection(kind).values():
                if item.name:
                    index[item.name].append(item.id)
        return index

    def assign_ids(self) -> None:
        first: dict[tuple[str, str], RawItem] = {}
        for doc in self.documents:
            for raw in doc.items:
                f = Fields(raw.data)
                ident = self.identify(raw, f)
                if ident is None:
                    self.flush(Draft(raw, f, ""))
                    continue
                if ident == "":  # an id-less floating IP, matched later
                    self.drafts[raw.kind].append(Draft(raw, f, ident))
                    continue
                key = (raw.kind, ident)
                if key in first:
                    other = first[key]
                    self.report(raw, "id", f"also defined at {other.path}: {other.label}")
                    continue
                first[key] = raw
                self.drafts[raw.kind].append(Draft(raw, f, ident))
                self.where[key] = raw

    def identify(self, raw: RawItem, f: Fields) -> str | None:
        name = f.text("name")
        if raw.kind == "keypairs":
            if not name:
                f.error("name", "is required")
            return name
        ident = f.text("id")
        if ident:
            return ident
        if raw.kind == "floatingips":
            return ""  # matched by address or port once ports are known
        if raw.kind == "flavors":
            if not name:
                f.error("id", "give an id or a name")
            return name
        if not name:
            f.error("id", "give an id or a name, so the item can be found again")
            return None
        stored = self.stored_names(raw.kind).get(name, [])
        if len(stored) > 1:
            f.error("name", f"{len(stored)} stored {raw.kind} are named {shown(name)}; give an id")
            return None
        # Stable per name within this apply, so two items of one name collide as duplicates.
        return stored[0] if stored else f"new:{name}"

    def index_names(self) -> None:
        self.ids = {}
        self.names = {}
        for kind in (*KINDS, "flavors"):
            ids: set[str] = set()
            names: dict[str, list[str]] = defaultdict(list)
            if kind != "flavors":
                for ident, item in self.retained(kind).items():
                    ids.add(ident)
                    if getattr(item, "name", ""):
                        names[item.name].append(ident)
            for d in self.drafts[kind]:
                if d.id.startswith("new:"):
                    d.id = str(uuid.uuid4())
                    self.where[(kind, d.id)] = d.raw
                    self.generated[(kind, d.id)] = d.raw
                ids.add(d.id)
                name = d.raw.data.get("name")
                if isinstance(name, str) and name and kind != "keypairs":
                    names[name].append(d.id)
            self.ids[kind] = ids
            self.names[kind] = names

    def check_whole(self) -> None:
        """Report the problems of the whole, each on the item of the files it belongs to."""
        problems = self.new.problems()
        placed = {(p.kind, p.key): p for p in problems if (p.kind, p.key) in self.where}
        for problem in problems:
            if self.failed.intersection(problem.refs):
                continue  # a consequence of an item already reported
            message = problem.message
            for kind, ident in problem.refs:
                if (kind, ident) in self.generated:
                    message = message.replace(f"{noun(kind)} {ident}", self.mention(kind, ident))
            raw = self.where.get((problem.kind, problem.key))
            if raw is not None:
                self.report(raw, problem.field, message)
            elif not any(
                (problem.kind, problem.key) in placed[ref].refs
                for ref in problem.refs
                if ref in placed
            ):  # the same problem seen from a stored item, when a named one shares it
                self.lines.append(
                    f"stored {problem.kind} {problem.key}: {problem.field}: {message}"
                )

    def run(self) -> Plan:
        self.assign_ids()
        self.index_names()
        self.build_networks()
        self.build_subnets()
        self.build_ports()
        self.build_floatingips()
        self.build_bonds()
        self.build_keypairs()
        self.build_servers()
        for drafts in self.drafts.values():
            for d in drafts:
                self.flush(d)
        self.check_whole()
        if self.lines:
            raise ApplyError(list(dict.fromkeys(self.lines)))
        return Plan.between(self.current, self.new)


def plan_apply(
    current: Topology,
    documents: list[Document],
    *,
    prune: bool = False,
    now: datetime | None = None,
) -> Plan:
    """The next state of the store after applying ``documents``; raises ApplyError."""
    return _Planner(current, documents, prune, now or datetime.now(UTC)).run()
