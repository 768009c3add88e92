"""The outcome of an apply or an edit: the next state and what differs, or every problem."""

from __future__ import annotations

from dataclasses import dataclass

from guestmeta.model import KINDS, Port, Topology

SINGULAR = {
    "networks": "network",
    "subnets": "subnet",
    "ports": "port",
    "floatingips": "floating IP",
    "bonds": "bond",
    "keypairs": "keypair",
    "servers": "server",
    "flavors": "flavor",
}


class ApplyError(ValueError):
    """Every problem of an apply, one line each, naming file, item and field."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


@dataclass(frozen=True)
class Change:
    kind: str
    id: str
    action: str  # create | update | delete

    def __str__(self) -> str:
        return f"{self.action} {SINGULAR[self.kind]} {self.id}"


@dataclass
class Plan:
    topology: Topology
    changes: list[Change]


def diff(old: Topology, new: Topology) -> list[Change]:
    """Items created, updated (including a port's attachment order) and deleted."""
    changes: list[Change] = []
    for kind in KINDS:
        before, after = old.collection(kind), new.collection(kind)
        for ident, item in after.items():
            if ident not in before:
                changes.append(Change(kind, ident, "create"))
            elif before[ident] != item or _seq(before[ident]) != _seq(item):
                changes.append(Change(kind, ident, "update"))
        changes += [Change(kind, i, "delete") for i in before if i not in after]
    return changes


def _seq(item: object) -> int:
    return item.seq if isinstance(item, Port) else 0
