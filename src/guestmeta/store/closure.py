"""One host's copy of the store: its servers and everything their documents read.

A host's agent and metadata service need, per server, the server itself, its ports and
trunk sub-ports, their networks, subnets and floating IPs, its keypair and bonds, and
where its NICs sit (the *closure* of the server). :class:`HostCopy` keeps those per
server, so that catching up after a change replaces the closures of the servers the
feed names and leaves the rest as they are; :func:`read_host` and :func:`catch_up` read
them in one snapshot, in a handful of indexed queries whatever the store's size.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from guestmeta.model import Bond, FloatingIP, Keypair, Network, Port, Server, Subnet, Topology
from guestmeta.store import schema
from guestmeta.store.codec import DECODERS, chunks, row_json

_REVISION = select(schema.state.c.value).where(schema.state.c.key == "revision")


@dataclass(frozen=True)
class Closure:
    """One server and every item its documents read."""

    server: Server
    ports: tuple[Port, ...] = ()
    floatingips: tuple[FloatingIP, ...] = ()
    networks: tuple[Network, ...] = ()
    subnets: tuple[Subnet, ...] = ()
    keypair: Keypair | None = None
    bonds: tuple[Bond, ...] = ()
    nics: tuple[tuple[str, str, str], ...] = ()  # (MAC, bus, address)


@dataclass(frozen=True)
class HostCopy:
    """A host's servers at the store revision ``revision`` (see :func:`catch_up`)."""

    host: str
    revision: int
    closures: dict[str, Closure] = field(default_factory=dict)

    def topology(self) -> Topology:
        """The servers and their closures as one topology (the outputs' input)."""
        topology = Topology()
        for closure in self.closures.values():
            topology.servers[closure.server.id] = closure.server
            topology.ports.update((p.id, p) for p in closure.ports)
            topology.floatingips.update((f.id, f) for f in closure.floatingips)
            topology.networks.update((n.id, n) for n in closure.networks)
            topology.subnets.update((s.id, s) for s in closure.subnets)
            topology.bonds.update((b.id, b) for b in closure.bonds)
            if closure.keypair is not None:
                topology.keypairs[closure.keypair.name] = closure.keypair
        return topology

    def nic_addresses(self) -> dict[str, tuple[str, str]]:
        return {mac: (bus, at) for c in self.closures.values() for mac, bus, at in c.nics}


def read_host(conn: Connection, host: str) -> HostCopy:
    """Every server on ``host``, read in the caller's snapshot."""
    revision = int(conn.execute(_REVISION).scalar_one())
    table = schema.servers
    servers = _decode("servers", conn.execute(select(table.c.data).where(table.c.host == host)))
    return HostCopy(host, revision, _closures(conn, servers))


def catch_up(conn: Connection, copy: HostCopy) -> HostCopy:
    """``copy`` brought to the store's revision.

    Only the servers whose feed rows are above the copy's revision are read again; one
    that left the host or was deleted leaves the copy. When no change concerns the host,
    the copy's closures are handed on as they are (the same dict), at the new revision.
    """
    revision = int(conn.execute(_REVISION).scalar_one())
    feed = schema.host_feed
    query = select(feed.c.server_id).where(
        feed.c.host == copy.host, feed.c.revision > copy.revision
    )
    touched = list(conn.execute(query).scalars())
    if not touched:
        return HostCopy(copy.host, revision, copy.closures)
    servers = [
        server
        for server in select_items(conn, "servers", schema.servers.c.id, touched)
        if server.host == copy.host
    ]
    closures = dict(copy.closures)
    for server_id in touched:
        closures.pop(server_id, None)
    closures.update(_closures(conn, servers))
    return HostCopy(copy.host, revision, closures)


def _closures(conn: Connection, servers: list[Server]) -> dict[str, Closure]:
    if not servers:
        return {}
    ids = [s.id for s in servers]
    ports = {p.id: p for p in select_items(conn, "ports", schema.ports.c.device_id, ids)}
    sub_ids = [sub.port_id for p in ports.values() if p.trunk for sub in p.trunk.sub_ports]
    missing = [i for i in sub_ids if i not in ports]
    ports.update((p.id, p) for p in select_items(conn, "ports", schema.ports.c.id, missing))
    floating = select_items(conn, "floatingips", schema.floatingips.c.port_id, list(ports))
    networks = {
        n.id: n
        for n in select_items(
            conn, "networks", schema.networks.c.id, _unique(p.network_id for p in ports.values())
        )
    }
    subnet_ids = _unique(f.subnet_id for p in ports.values() for f in p.fixed_ips)
    subnets = {s.id: s for s in select_items(conn, "subnets", schema.subnets.c.id, subnet_ids)}
    key_names = _unique(s.key_name for s in servers if s.key_name)
    keypairs = {
        k.name: k for k in select_items(conn, "keypairs", schema.keypairs.c.name, key_names)
    }
    bonds = [
        b
        for b in _decode("bonds", conn.execute(select(schema.bonds.c.data)))
        if any(p in ports for p in b.ports)
    ]
    nic_table = schema.nic_addresses
    nics: dict[str, list[tuple[str, str, str]]] = {}
    for chunk in chunks(ids):
        query = select(
            nic_table.c.server_id, nic_table.c.mac_address, nic_table.c.bus, nic_table.c.address
        ).where(nic_table.c.server_id.in_(chunk))
        for server_id, mac, bus, address in conn.execute(query):
            nics.setdefault(server_id, []).append((mac, bus, address))

    # Which port belongs to which server: its own device, or its trunk parent's.
    owner = {p.id: p.device_id for p in ports.values() if p.device_id in ids}
    for parent in [p for p in ports.values() if p.trunk and p.id in owner]:
        for sub in parent.trunk.sub_ports if parent.trunk else ():
            owner.setdefault(sub.port_id, owner[parent.id])
    by_server: dict[str, list[Port]] = {}
    for port_id, server_id in owner.items():
        if port_id in ports:
            by_server.setdefault(server_id, []).append(ports[port_id])
    fips_by_port: dict[str, list[FloatingIP]] = {}
    for fip in floating:
        if fip.port_id:
            fips_by_port.setdefault(fip.port_id, []).append(fip)
    result: dict[str, Closure] = {}
    for server in servers:
        mine = by_server.get(server.id, [])
        mine_ids = {p.id for p in mine}
        result[server.id] = Closure(
            server=server,
            ports=tuple(mine),
            floatingips=tuple(f for p in mine for f in fips_by_port.get(p.id, ())),
            networks=tuple(
                networks[i] for i in _unique(p.network_id for p in mine) if i in networks
            ),
            subnets=tuple(
                subnets[i]
                for i in _unique(f.subnet_id for p in mine for f in p.fixed_ips)
                if i in subnets
            ),
            keypair=keypairs.get(server.key_name) if server.key_name else None,
            bonds=tuple(b for b in bonds if set(b.ports) <= mine_ids),
            nics=tuple(sorted(nics.get(server.id, ()))),
        )
    return result


def select_items(conn: Connection, kind: str, column: Any, values: list[str]) -> list[Any]:
    """The items of ``kind`` whose ``column`` is one of ``values``, decoded, in chunks
    small enough for one ``IN (...)`` each."""
    table = schema.TABLES[kind]
    found: list[Any] = []
    for chunk in chunks(values):
        found += _decode(kind, conn.execute(select(table.c.data).where(column.in_(chunk))))
    return found


def _decode(kind: str, rows: Iterable[Any]) -> list[Any]:
    decode = DECODERS[kind]
    return [decode(row_json(row[0])) for row in rows]


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
