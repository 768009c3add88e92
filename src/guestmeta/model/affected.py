"""Which servers' documents a change can touch, so that only those are built again.

Building every server's files takes seconds on a large store, far over the one second a
change may take to be served; most changes touch one server. Each server depends on a
set of items (itself, its ports and sub-ports, their networks, subnets and floating IPs,
its keypair and bonds); a change to any of them, before or after, rebuilds it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator

from guestmeta.model import Topology
from guestmeta.model.changes import Change

Key = tuple[str, str]


def dependencies(topology: Topology, server_id: str) -> Iterator[Key]:
    """The items whose content ends up in the server's documents."""
    index = topology.index
    server = topology.servers[server_id]
    yield "servers", server_id
    if server.key_name:
        yield "keypairs", server.key_name
    for port in index.all_ports(server_id):
        yield "ports", port.id
        yield "networks", port.network_id
        for fixed in port.fixed_ips:
            yield "subnets", fixed.subnet_id
        for floating in index.floating_ips(port.id):
            yield "floatingips", floating.id
    for bond in index.bonds(server_id):
        yield "bonds", bond.id


def _by_item(topology: Topology) -> dict[Key, set[str]]:
    users: dict[Key, set[str]] = defaultdict(set)
    for server_id in topology.servers:
        for key in dependencies(topology, server_id):
            users[key].add(server_id)
    return users


def affected_servers(old: Topology, new: Topology, changes: Iterable[Change]) -> set[str]:
    """Servers of ``new`` whose documents may differ from those built from ``old``.

    A floating IP or port created for a server is not among the old one's dependencies,
    so both sides are asked, and a new item's owner is found through the new topology.
    """
    changes = list(changes)
    if not changes:
        return set()
    before, after = _by_item(old), _by_item(new)
    touched: set[str] = set()
    for change in changes:
        key = (change.kind, change.id)
        touched |= before.get(key, set()) | after.get(key, set())
    return touched & set(new.servers)
