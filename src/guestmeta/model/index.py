"""The topology index: what every output asks of a topology, computed once per revision.

network_data.json, meta_data.json, the EC2 tree, the ``nova:instance`` element, the
listings and the host agent all need the same answers: a server's ports in attachment
order, each trunk's sub-ports by VLAN, the floating IPs of a port, the server's keypair,
the server a port serves. Asking the topology each time walks every port and
floating IP per question; the index walks them once, when it is first asked for
(``Topology.index``), and every consumer reads the same answer, so they cannot disagree.

A trunk sub-port belongs to the server of its parent. Neutron marks one with
``device_owner: trunk:subport`` and a ``device_id`` naming the trunk or, in newer
releases, the parent's server: either way it is not plugged into that server directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from guestmeta.model.port import Bond, FloatingIP, Port
from guestmeta.model.server import Keypair, Server


class Collections(Protocol):
    """What the index reads of a topology (``Topology`` builds its own index, so the
    import runs from the topology to here, never back)."""

    ports: dict[str, Port]
    floatingips: dict[str, FloatingIP]
    bonds: dict[str, Bond]
    keypairs: dict[str, Keypair]
    servers: dict[str, Server]

    def trunk_parents(self) -> dict[str, tuple[Port, int]]: ...


@dataclass(frozen=True, slots=True)
class SubPortOf:
    """A trunk sub-port with its parent and VLAN."""

    port: Port
    parent: Port
    vlan: int


def _order(port: Port) -> tuple[int, str]:
    return (port.seq, port.id)


class TopologyIndex:
    """Read-only answers about one topology; build it only once the topology is final."""

    def __init__(self, topology: Collections) -> None:
        self.topology = topology
        servers = topology.servers
        parents = topology.trunk_parents()
        self.parent_of: dict[str, SubPortOf] = {}
        subs: dict[str, list[SubPortOf]] = {}
        for sub_id, (parent, vlan) in parents.items():
            child = topology.ports.get(sub_id)
            if child is not None:
                entry = SubPortOf(child, parent, vlan)
                self.parent_of[sub_id] = entry
                subs.setdefault(parent.id, []).append(entry)
        # Kept as tuples: every render reads them, and a tuple is handed out as it is.
        self._subs = {
            pid: tuple(sorted(entries, key=lambda s: (s.vlan, s.port.id)))
            for pid, entries in subs.items()
        }
        direct: dict[str, list[Port]] = {}
        for port in topology.ports.values():
            if port.device_id in servers and port.id not in self.parent_of:
                direct.setdefault(port.device_id, []).append(port)
        self._direct = {sid: tuple(sorted(ports, key=_order)) for sid, ports in direct.items()}
        self.server_of: dict[str, str] = {}
        for sid, ports in self._direct.items():
            for port in ports:
                self.server_of[port.id] = sid
                for sub in self._subs.get(port.id, ()):
                    self.server_of[sub.port.id] = sid
        floating: dict[str, list[FloatingIP]] = {}
        for fip in topology.floatingips.values():
            if fip.port_id:
                floating.setdefault(fip.port_id, []).append(fip)
        self._floating = {
            pid: tuple(
                sorted(fips, key=lambda f: (f.fixed_ip_address or "", f.floating_ip_address))
            )
            for pid, fips in floating.items()
        }
        self._bonds: dict[str, list[Bond]] = {}
        for bond in topology.bonds.values():
            owners = {self.server_of.get(p, "") for p in bond.ports}
            if len(owners) == 1 and "" not in owners:
                self._bonds.setdefault(owners.pop(), []).append(bond)
        self._by_mac: dict[str, list[str]] | None = None

    # -- a server's ports ----------------------------------------------------------------

    def ports(self, server_id: str) -> tuple[Port, ...]:
        """The ports plugged into the server, in attachment order (sub-ports excluded)."""
        return self._direct.get(server_id, ())

    def sub_ports(self, port_id: str) -> tuple[SubPortOf, ...]:
        """The trunk sub-ports a parent port carries, by VLAN."""
        return self._subs.get(port_id, ())

    def all_ports(self, server_id: str) -> Iterator[Port]:
        """Every port of the server: each plugged port, then its sub-ports by VLAN."""
        for port in self.ports(server_id):
            yield port
            for sub in self._subs.get(port.id, ()):
                yield sub.port

    def is_sub_port(self, port_id: str) -> bool:
        return port_id in self.parent_of

    def server_of_port(self, port_id: str) -> str:
        """The server a port serves: its own, or its trunk parent's; "" for none."""
        return self.server_of.get(port_id, "")

    def bonds(self, server_id: str) -> tuple[Bond, ...]:
        """The bonds whose ports all belong to the server."""
        return tuple(self._bonds.get(server_id, ()))

    # -- addresses and keys ----------------------------------------------------------------

    def floating_ips(self, port_id: str) -> tuple[FloatingIP, ...]:
        """The floating IPs pointing at a port, by the fixed address they map to."""
        return self._floating.get(port_id, ())

    def keypair(self, server: Server) -> Keypair | None:
        return self.topology.keypairs.get(server.key_name) if server.key_name else None

    def ports_by_mac(self, mac: str) -> list[str]:
        """Ids of the ports with this MAC (any network), for NICs found in domain XML."""
        if self._by_mac is None:
            by_mac: dict[str, list[str]] = {}
            for port in self.topology.ports.values():
                by_mac.setdefault(port.mac_address.lower(), []).append(port.id)
            self._by_mac = by_mac
        return self._by_mac.get(mac.lower(), [])

    def address_rows(
        self, port_ids: Iterable[str] | None = None
    ) -> Iterator[tuple[str, str, str, str, str]]:
        """(network_id, subnet_id, address, port_id, server_id) for every fixed IP, or for
        those of ``port_ids`` only (ids the topology lacks are skipped)."""
        ports = self.topology.ports
        chosen = ports.values() if port_ids is None else (ports[p] for p in port_ids if p in ports)
        for port in chosen:
            server_id = self.server_of.get(port.id, "")
            for ip in port.fixed_ips:
                yield port.network_id, ip.subnet_id, ip.ip_address, port.id, server_id

    # -- a host's servers ------------------------------------------------------------------

    def domains_on(self, host: str) -> dict[str, str]:
        """Domain name -> server id, for the servers placed on ``host``."""
        return {s.domain_name: s.id for s in self.topology.servers.values() if s.host == host}
