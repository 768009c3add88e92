"""Which servers a change can touch: the documents to build again, the hosts to tell.

Each server's documents and ``nova:instance`` element depend on a set of items (itself,
its ports and sub-ports, their networks, subnets and floating IPs, its keypair and
bonds); a change to any of them, before or after, touches it. Two readers need the
answer on every change: the metadata service, to build only those servers' files again,
and the store's writer, to tell only the hosts those servers sit on (the per-host change
feed). Both ask per changed item, through the topology index, so a change to one server
costs the same on a store of 20 servers and of 20,000; only a change to an item many
servers share (a network, a subnet, a keypair) walks the ports or servers to find them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from guestmeta.model.changes import Change
from guestmeta.model.topology import Topology


def dependencies(topology: Topology, server_id: str) -> Iterator[tuple[str, str]]:
    """The items (kind, id) whose content ends up in the server's documents."""
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


def dependents(topology: Topology, kind: str, ident: str) -> set[str]:
    """The servers of ``topology`` whose documents read the item ``kind``/``ident``."""
    index = topology.index
    found: set[str] = set()
    if kind == "servers":
        if ident in topology.servers:
            found.add(ident)
    elif kind == "ports":
        found.add(index.server_of_port(ident))
    elif kind == "floatingips":
        floating = topology.floatingips.get(ident)
        if floating is not None and floating.port_id:
            found.add(index.server_of_port(floating.port_id))
    elif kind == "bonds":
        bond = topology.bonds.get(ident)
        if bond is not None:
            found.update(index.server_of_port(p) for p in bond.ports)
    elif kind == "keypairs":
        found.update(s.id for s in topology.servers.values() if s.key_name == ident)
    elif kind == "networks":
        found.update(
            index.server_of_port(p.id) for p in topology.ports.values() if p.network_id == ident
        )
    elif kind == "subnets":
        found.update(
            index.server_of_port(p.id)
            for p in topology.ports.values()
            if any(f.subnet_id == ident for f in p.fixed_ips)
        )
    found.discard("")
    return found & topology.servers.keys()


def touched_servers(old: Topology, new: Topology, changes: Iterable[Change]) -> set[str]:
    """Servers of either topology whose documents may differ between the two.

    A floating IP or port created for a server is not among the old one's dependencies,
    so both sides are asked; a server deleted or moved away is among the old one's.
    """
    touched: set[str] = set()
    for change in changes:
        touched |= dependents(old, change.kind, change.id)
        touched |= dependents(new, change.kind, change.id)
    return touched


def affected_servers(old: Topology, new: Topology, changes: Iterable[Change]) -> set[str]:
    """Servers of ``new`` whose documents may differ from those built from ``old``."""
    return touched_servers(old, new, changes) & new.servers.keys()
