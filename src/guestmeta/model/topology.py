"""The whole desired state and the rules that span items.

Single items check their own fields when built; this module checks what only the
whole can tell: references, duplicates, addresses inside their subnets, ports
claimed twice. Every problem is collected, so one run reports them all.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from guestmeta.model.addressing import is_reserved_v4, parse_ip
from guestmeta.model.errors import Problem, shown
from guestmeta.model.kinds import KINDS
from guestmeta.model.network import MTU_MIN_V6, Network, Subnet
from guestmeta.model.port import SUBPORT_OWNER, Bond, FloatingIP, Port
from guestmeta.model.server import Keypair, Server

if TYPE_CHECKING:
    from guestmeta.model.index import TopologyIndex


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@dataclass
class Topology:
    """Every item by id; keypairs by name (Nova names them per user, we per store)."""

    networks: dict[str, Network] = field(default_factory=dict)
    subnets: dict[str, Subnet] = field(default_factory=dict)
    ports: dict[str, Port] = field(default_factory=dict)
    floatingips: dict[str, FloatingIP] = field(default_factory=dict)
    bonds: dict[str, Bond] = field(default_factory=dict)
    keypairs: dict[str, Keypair] = field(default_factory=dict)
    servers: dict[str, Server] = field(default_factory=dict)
    _index: TopologyIndex | None = field(default=None, init=False, repr=False, compare=False)
    _index_shape: tuple[tuple[int, int], ...] = field(
        default=(), init=False, repr=False, compare=False
    )

    def collection(self, kind: str) -> dict[str, Any]:
        items: dict[str, Any] = getattr(self, kind)
        return items

    def copy(self) -> Topology:
        return Topology(**{kind: dict(self.collection(kind)) for kind in KINDS})

    # -- derived views -------------------------------------------------------------

    def trunk_parents(self) -> dict[str, tuple[Port, int]]:
        """Sub-port id -> (parent port, VLAN id)."""
        parents: dict[str, tuple[Port, int]] = {}
        for port in self.ports.values():
            if port.trunk is not None:
                for sub in port.trunk.sub_ports:
                    parents[sub.port_id] = (port, sub.segmentation_id)
        return parents

    def last_seq(self) -> int:
        """The newest attachment order given to a port; the next attach gets one more."""
        return max((p.seq for p in self.ports.values()), default=0)

    @property
    def index(self) -> TopologyIndex:
        """The index of this topology, built on first use and kept (see ``model.index``).

        Build it once the topology is final: ``apply`` and the edits work on copies
        (``copy()`` starts without one), and nothing changes a stored topology. As a
        guard, a collection replaced, grown or shrunk since the index was built makes
        a new one; an item replaced in place under the same key does not.
        """
        shape = self._shape()
        if self._index is None or self._index_shape != shape:
            from guestmeta.model.index import TopologyIndex

            self._index, self._index_shape = TopologyIndex(self), shape
        return self._index

    def _shape(self) -> tuple[tuple[int, int], ...]:
        return tuple((id(items), len(items)) for items in map(self.collection, KINDS))

    # -- validation ----------------------------------------------------------------

    def problems(self) -> list[Problem]:
        out: list[Problem] = []
        out += self._check_subnets()
        out += self._check_ports()
        out += self._check_trunks()
        out += self._check_floatingips()
        out += self._check_bonds()
        out += self._check_servers()
        return out

    def _check_subnets(self) -> Iterable[Problem]:
        by_network: dict[str, list[Subnet]] = defaultdict(list)
        for subnet in self.subnets.values():
            if subnet.network_id not in self.networks:
                yield Problem(
                    "subnets",
                    subnet.id,
                    "network_id",
                    f"unknown network {shown(subnet.network_id)}",
                    (("networks", subnet.network_id),),
                )
                continue
            by_network[subnet.network_id].append(subnet)
        for network_id, subnets in by_network.items():
            network = self.networks[network_id]
            has_v6 = any(s.ip_version == 6 for s in subnets)
            if network.mtu is not None and network.mtu < MTU_MIN_V6 and has_v6:
                yield Problem(
                    "networks",
                    network_id,
                    "mtu",
                    f"{network.mtu} is below 1280, the IPv6 minimum, and the network has "
                    "an IPv6 subnet",
                )
            nets = sorted(((s.network, s) for s in subnets), key=lambda t: (t[0].version, t[1].id))
            for i, (net, subnet) in enumerate(nets):
                for other_net, other in nets[i + 1 :]:
                    if net.version == other_net.version and net.overlaps(other_net):
                        # Each side names the other: the caller keeps the one it can place.
                        for a, b in ((other, subnet), (subnet, other)):
                            yield Problem(
                                "subnets",
                                a.id,
                                "cidr",
                                f"{a.cidr} overlaps subnet {b.id} ({b.cidr}) on the same network",
                                (("subnets", b.id),),
                            )

    def _check_ports(self) -> Iterable[Problem]:
        macs: dict[tuple[str, str], str] = {}
        addresses: dict[tuple[str, str], str] = {}
        nets = {sid: s.network for sid, s in self.subnets.items()}
        gateways = {sid: parse_ip(s.gateway_ip) for sid, s in self.subnets.items() if s.gateway_ip}
        for port in self.ports.values():
            if port.network_id not in self.networks:
                yield Problem(
                    "ports",
                    port.id,
                    "network_id",
                    f"unknown network {shown(port.network_id)}",
                    (("networks", port.network_id),),
                )
            key = (port.network_id, port.mac_address)
            if key in macs:
                yield Problem(
                    "ports",
                    port.id,
                    "mac_address",
                    f"{port.mac_address} is already used by port {macs[key]} on the same network",
                    (("ports", macs[key]),),
                )
            else:
                macs[key] = port.id
            for i, fixed in enumerate(port.fixed_ips):
                field_name = f"fixed_ips[{i}]"
                subnet = self.subnets.get(fixed.subnet_id)
                if subnet is None:
                    yield Problem(
                        "ports",
                        port.id,
                        f"{field_name}.subnet_id",
                        f"unknown subnet {shown(fixed.subnet_id)}",
                        (("subnets", fixed.subnet_id),),
                    )
                    continue
                if subnet.network_id != port.network_id:
                    yield Problem(
                        "ports",
                        port.id,
                        f"{field_name}.subnet_id",
                        f"subnet {subnet.id} is not on the port's network {port.network_id}",
                        (("subnets", subnet.id), ("networks", port.network_id)),
                    )
                address = parse_ip(fixed.ip_address)
                net = nets[subnet.id]
                if address.version != net.version or address not in net:
                    yield Problem(
                        "ports",
                        port.id,
                        f"{field_name}.ip_address",
                        f"{fixed.ip_address} is outside subnet {subnet.id} ({subnet.cidr})",
                        (("subnets", subnet.id),),
                    )
                    continue
                reserved = is_reserved_v4(address, net)
                if reserved:
                    yield Problem(
                        "ports", port.id, f"{field_name}.ip_address", f"{address} {reserved}"
                    )
                elif address == gateways.get(subnet.id) and not port.device_owner.startswith(
                    "network:"
                ):
                    yield Problem(
                        "ports",
                        port.id,
                        f"{field_name}.ip_address",
                        f"{address} is the subnet's gateway",
                    )
                akey = (subnet.id, str(address))
                if akey in addresses:
                    yield Problem(
                        "ports",
                        port.id,
                        f"{field_name}.ip_address",
                        f"{address} is already used by port {addresses[akey]} "
                        f"in subnet {subnet.id}",
                        (("ports", addresses[akey]), ("subnets", subnet.id)),
                    )
                else:
                    addresses[akey] = port.id

    def _check_trunks(self) -> Iterable[Problem]:
        owner: dict[str, str] = {}
        for port in self.ports.values():
            if port.trunk is None:
                continue
            for i, sub in enumerate(port.trunk.sub_ports):
                field_name = f"trunk_details.sub_ports[{i}].port_id"
                child = self.ports.get(sub.port_id)
                if child is None:
                    yield Problem(
                        "ports",
                        port.id,
                        field_name,
                        f"unknown port {shown(sub.port_id)}",
                        (("ports", sub.port_id),),
                    )
                    continue
                if sub.port_id in owner:
                    yield Problem(
                        "ports",
                        port.id,
                        field_name,
                        f"port {sub.port_id} is already a sub-port of {owner[sub.port_id]}",
                        (("ports", sub.port_id), ("ports", owner[sub.port_id])),
                    )
                owner[sub.port_id] = port.id
                if child.trunk is not None and child.trunk.sub_ports:
                    yield Problem(
                        "ports",
                        port.id,
                        field_name,
                        f"port {sub.port_id} is itself a trunk parent",
                        (("ports", sub.port_id),),
                    )
                problem = self._sub_port_device(port, child)
                if problem is not None:
                    yield Problem(
                        "ports",
                        port.id,
                        field_name,
                        problem,
                        (("ports", sub.port_id), ("servers", child.device_id)),
                    )

    def _sub_port_device(self, parent: Port, child: Port) -> str | None:
        """Why a sub-port's own ``device_id`` contradicts its trunk, or None.

        Neutron gives a sub-port ``device_owner: trunk:subport`` and a ``device_id``
        naming the trunk or its parent's server: the same attachment said twice. A
        sub-port that names another server, or that is plugged into any server as a
        NIC of its own, is two attachments.
        """
        if child.device_id not in self.servers:
            return None
        if child.device_owner != SUBPORT_OWNER:
            return f"port {child.id} is plugged into server {child.device_id} directly"
        if child.device_id != parent.device_id:
            return (
                f"sub-port {child.id} names server {child.device_id}, but its trunk parent "
                f"{parent.id} is plugged into "
                + (f"server {parent.device_id}" if parent.device_id else "no server")
            )
        return None

    def _check_floatingips(self) -> Iterable[Problem]:
        seen: dict[str, str] = {}
        subnets_of: dict[str, list[Subnet]] = defaultdict(list)
        for subnet in self.subnets.values():
            subnets_of[subnet.network_id].append(subnet)
        for fip in self.floatingips.values():
            if fip.floating_ip_address in seen:
                yield Problem(
                    "floatingips",
                    fip.id,
                    "floating_ip_address",
                    f"{fip.floating_ip_address} is already floating IP "
                    f"{seen[fip.floating_ip_address]}",
                    (("floatingips", seen[fip.floating_ip_address]),),
                )
            seen[fip.floating_ip_address] = fip.id
            if fip.floating_network_id is not None and fip.floating_network_id not in self.networks:
                yield Problem(
                    "floatingips",
                    fip.id,
                    "floating_network_id",
                    f"unknown network {shown(fip.floating_network_id)}",
                    (("networks", fip.floating_network_id),),
                )
            elif fip.floating_network_id is not None:
                address = parse_ip(fip.floating_ip_address)
                nets = [s.network for s in subnets_of.get(fip.floating_network_id, ())]
                if nets and not any(address in net for net in nets):
                    yield Problem(
                        "floatingips",
                        fip.id,
                        "floating_ip_address",
                        f"{address} is in no subnet of network {fip.floating_network_id}",
                        (("networks", fip.floating_network_id),),
                    )
            if fip.port_id is None:
                continue
            port = self.ports.get(fip.port_id)
            if port is None:
                yield Problem(
                    "floatingips",
                    fip.id,
                    "port_id",
                    f"unknown port {shown(fip.port_id)}",
                    (("ports", fip.port_id),),
                )
                continue
            have = {ip.ip_address for ip in port.fixed_ips}
            if fip.fixed_ip_address is None or fip.fixed_ip_address not in have:
                yield Problem(
                    "floatingips",
                    fip.id,
                    "fixed_ip_address",
                    f"{fip.fixed_ip_address} is not an address of port {port.id}",
                    (("ports", port.id),),
                )

    def _check_bonds(self) -> Iterable[Problem]:
        member_of: dict[str, str] = {}
        parents = self.trunk_parents()
        for bond in self.bonds.values():
            servers: set[str] = set()
            networks: set[str] = set()
            for port_id in bond.ports:
                port = self.ports.get(port_id)
                if port is None:
                    yield Problem(
                        "bonds",
                        bond.id,
                        "ports",
                        f"unknown port {shown(port_id)}",
                        (("ports", port_id),),
                    )
                    continue
                if port_id in member_of:
                    yield Problem(
                        "bonds",
                        bond.id,
                        "ports",
                        f"port {port_id} is already in bond {member_of[port_id]}",
                        (("ports", port_id), ("bonds", member_of[port_id])),
                    )
                member_of[port_id] = bond.id
                if port_id in parents:
                    yield Problem(
                        "bonds",
                        bond.id,
                        "ports",
                        f"port {port_id} is a trunk sub-port",
                        (("ports", port_id),),
                    )
                servers.add(port.device_id)
                networks.add(port.network_id)
            if len(servers) > 1 or "" in servers or not servers <= self.servers.keys():
                yield Problem(
                    "bonds", bond.id, "ports", "all ports of a bond must be plugged into one server"
                )
            if len(networks) > 1:
                yield Problem(
                    "bonds", bond.id, "ports", "all ports of a bond must be on one network"
                )

    def _check_servers(self) -> Iterable[Problem]:
        domains: dict[tuple[str | None, str], str] = {}
        for server in self.servers.values():
            if server.key_name is not None and server.key_name not in self.keypairs:
                yield Problem(
                    "servers",
                    server.id,
                    "key_name",
                    f"unknown keypair {shown(server.key_name)}",
                    (("keypairs", server.key_name),),
                )
            key = (server.host, server.domain_name)
            if key in domains:
                yield Problem(
                    "servers",
                    server.id,
                    "OS-EXT-SRV-ATTR:instance_name",
                    f"domain {shown(server.domain_name)} is already server {domains[key]}"
                    + (f" on host {server.host}" if server.host else ""),
                    (("servers", domains[key]),),
                )
            domains[key] = server.id
