"""A change set: the next state of the store and what differs from the current one.

It lives in the model, below the store and ``apply``, because every writer makes one
(an apply, a delete, a port attach, the host agent adopting a NIC) and the store only
needs to know what to write.
"""

from __future__ import annotations

from dataclasses import dataclass

from guestmeta.model.kinds import KINDS, noun
from guestmeta.model.port import Port
from guestmeta.model.topology import Topology


@dataclass(frozen=True)
class Change:
    kind: str
    id: str
    action: str  # create | update | delete

    def __str__(self) -> str:
        return f"{self.action} {noun(self.kind)} {self.id}"


@dataclass
class Plan:
    """The next topology and the changes that lead to it (none: nothing to write)."""

    topology: Topology
    changes: list[Change]

    @classmethod
    def between(cls, old: Topology, new: Topology) -> Plan:
        return cls(new, diff(old, new))


def diff(old: Topology, new: Topology) -> list[Change]:
    """Items created, updated (including a port's attachment order) and deleted."""
    changes: list[Change] = []
    for kind in KINDS:
        before, after = old.collection(kind), new.collection(kind)
        for ident, item in after.items():
            if ident not in before:
                changes.append(Change(kind, ident, "create"))
            elif before[ident] is not item and (  # a copy shares what it did not change
                before[ident] != item or _seq(before[ident]) != _seq(item)
            ):
                changes.append(Change(kind, ident, "update"))
        changes += [Change(kind, i, "delete") for i in before if i not in after]
    return changes


def _seq(item: object) -> int:
    return item.seq if isinstance(item, Port) else 0
