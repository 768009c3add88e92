"""network_data.json: a server's links, networks and DNS in OpenStack's format.

What guests read to configure their NICs (cloud-init, glean, cloudbase-init). Built like
Nova's ``get_network_metadata``, with its gaps closed:

- **Every fixed IP** of every port gets its own network entry, so two addresses in one
  subnet give two entries and a second subnet of one family is not dropped.
- **Trunk sub-ports** are ``vlan`` links on their parent's link (``vlan_mac_address`` is
  the sub-port's MAC, ``vif_id`` its id); **bonds** are ``bond`` links whose members keep
  their own ``phy`` links, and the members' addresses and sub-ports ride on the bond.
- **MTU**: every link carries its network's MTU, also when the subnet runs DHCP.
- A server without ports has no network_data.json at all (``None``): an empty ``{}`` would
  stop cloud-init's DHCP fallback.

Which type an entry gets (the rule of Nova's ``_get_nets``, kept so that guests behave
the same as under Nova):

- an IPv6 subnet with an address mode gives ``ipv6_slaac``, ``ipv6_dhcpv6-stateful`` or
  ``ipv6_dhcpv6-stateless``, *with* the address, netmask, routes and DNS, so consumers that
  do not run SLAAC or DHCPv6 still know the address;
- otherwise a subnet with ``enable_dhcp`` gives ``ipv4_dhcp`` / ``ipv6_dhcp`` carrying only
  ``id``, ``type``, ``link`` and ``network_id``: the subnet's DHCP server hands out the
  address. A link gets one DHCP entry per IP version, however many addresses it holds there,
  because a DHCP client asks once per interface;
- otherwise the entry is static (``ipv4`` / ``ipv6``).

Routes: the subnet's default route first (when it has a gateway), then its host routes,
on the first entry of each subnet on a link only: a second address in the same subnet
repeating them would make ifupdown and systemd-networkd fail on a duplicate route.
DNS: each entry lists its subnet's servers; the top-level ``services`` is their union in
first-seen order (only ``dns``: cloud-init turns every top-level service into a nameserver).

Link ids are ``tap`` plus the start of the port id, as Nova names the host's tap device,
so they stay the same across renders and hosts. A bond's link id is its name (``bond0``)
or ``bond<n>``: guests name the bond device after it. Links carry no ``name``: cloud-init would
rename the guest's NIC to it.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from guestmeta.model import Bond, FixedIP, Port, Subnet, Topology, TopologyIndex, tap_name

# The VIF types guests know as link types (Nova's LEGACY_EXPOSED_VIF_TYPES); others are phy.
EXPOSED_VIF_TYPES = ("bridge", "dvs", "hw_veb", "hyperv", "ovs", "tap", "vhostuser", "vif")

NetworkData = dict[str, list[dict[str, Any]]]


@dataclass
class _Link:
    """A link being built, and the ports whose addresses it carries."""

    body: dict[str, Any]
    ports: list[Port] = field(default_factory=list)


def link_id(port_id: str) -> str:
    """The link id of a port: Nova's tap device name for it."""
    return tap_name(port_id)


# A bond's link id becomes the guest's bond device name (glean names it so, and a VLAN
# on it is named after it): short enough for "NAME.4094" and "NAME-vlan4094" to stay
# under the kernel's 15 characters, and without "-" or ".", which glean splits names on.
_BOND_NAME = re.compile(r"^[a-z][a-z0-9]{0,5}$")


def bond_link_id(bond: Bond, index: int) -> str:
    """The bond's own name when it makes a good device name, else ``bond<index>``."""
    return bond.name if _BOND_NAME.match(bond.name) else f"bond{index}"


@functools.lru_cache(maxsize=4096)
def network_and_mask(cidr: str) -> tuple[str, str]:
    """(network address, netmask) of a CIDR: a dotted quad for IPv4, the full colon form
    for IPv6 (glean breaks on prefix lengths). Cached: parsing dominates a render, and the
    same few subnets come back for every server.
    """
    network = ipaddress.ip_network(cidr, strict=False)
    return str(network.network_address), str(network.netmask)


def network_data(topology: Topology, server_id: str) -> NetworkData | None:
    """The server's network_data.json as a dict, or ``None`` when it has no ports."""
    index = topology.index
    ports = index.ports(server_id)
    if not ports:
        return None
    links = _links(topology, index, server_id, ports)
    networks: list[dict[str, Any]] = []
    services: list[dict[str, Any]] = []
    seen: set[str] = set()
    for link in links:
        for entry, dns in _networks(topology, link, len(networks)):
            if entry is not None:
                networks.append(entry)
            for service in dns:  # the union, first seen first, each address once
                if service["address"] not in seen:
                    seen.add(service["address"])
                    services.append(service)
    return {"links": [link.body for link in links], "networks": networks, "services": services}


def _mtu(topology: Topology, port: Port) -> int | None:
    network = topology.networks.get(port.network_id)
    return network.mtu if network is not None else None


def _links(
    topology: Topology, index: TopologyIndex, server_id: str, ports: tuple[Port, ...]
) -> list[_Link]:
    """phy links in port order, then bonds, then VLANs; ids unique."""
    port_ids = {p.id for p in ports}
    bonds = [b for b in index.bonds(server_id) if set(b.ports) <= port_ids]
    order = {p.id: i for i, p in enumerate(ports)}
    bonds.sort(key=lambda b: min(order[m] for m in b.ports))
    bonded = {member: bond for bond in bonds for member in bond.ports}
    taken: set[str] = set()

    def unique(wanted: str, fallback: str) -> str:
        """``wanted``, else ``fallback``, else ``fallback`` with a number: never twice."""
        chosen, n = wanted if wanted not in taken else fallback, 1
        while chosen in taken:
            chosen, n = f"{fallback}-{n}", n + 1
        taken.add(chosen)
        return chosen

    ids: dict[str, str] = {}
    links: list[_Link] = []
    for port in ports:
        ids[port.id] = unique(link_id(port.id), port.id)
        body: dict[str, Any] = {
            "id": ids[port.id],
            "vif_id": port.id,
            "type": port.vif_type if port.vif_type in EXPOSED_VIF_TYPES else "phy",
            "mtu": _mtu(topology, port),
            "ethernet_mac_address": port.mac_address,
        }
        links.append(_Link(body, [] if port.id in bonded else [port]))
    by_id = {p.id: p for p in ports}
    for number, bond in enumerate(bonds):
        members = [by_id[m] for m in bond.ports]
        member_links = [ids[m.id] for m in members]
        bid = unique(bond_link_id(bond, number), f"bond{number}")
        for member in members:
            ids[member.id] = bid  # sub-ports of a member ride on the bond
        body = {
            "id": bid,
            "type": "bond",
            "mtu": _mtu(topology, members[0]),
            "ethernet_mac_address": members[0].mac_address,
            "bond_links": member_links,
            "bond_mode": bond.mode,
        }
        if bond.miimon is not None:
            body["bond_miimon"] = bond.miimon
        if bond.xmit_hash_policy is not None:
            body["bond_xmit_hash_policy"] = bond.xmit_hash_policy
        links.append(_Link(body, members))
    for port in ports:
        for sub in index.sub_ports(port.id):  # by VLAN; a missing sub-port is left out
            child = sub.port
            body = {
                "id": unique(link_id(child.id), child.id),
                "vif_id": child.id,
                "type": "vlan",
                "mtu": _mtu(topology, child),
                "vlan_link": ids[port.id],
                "vlan_id": sub.vlan,
                "vlan_mac_address": child.mac_address,
            }
            links.append(_Link(body, [child]))
    return links


def _dns(subnet: Subnet) -> list[dict[str, Any]]:
    """The subnet's DNS servers, each once, in the canonical text form of its address."""
    return [{"type": "dns", "address": a} for a in _dns_addresses(subnet.dns_nameservers)]


@functools.lru_cache(maxsize=4096)
def _dns_addresses(servers: tuple[str, ...]) -> tuple[str, ...]:
    """Cached: parsing addresses costs more than the rest of a render."""
    return tuple(dict.fromkeys(str(ipaddress.ip_address(a)) for a in servers))


def _networks(
    topology: Topology, link: _Link, start: int
) -> list[tuple[dict[str, Any] | None, list[dict[str, Any]]]]:
    """The network entries of one link, numbered from ``start``, each with its DNS services
    (an entry of None: a subnet that adds DNS servers but no entry of its own)."""
    out: list[tuple[dict[str, Any] | None, list[dict[str, Any]]]] = []
    number = start
    dhcp_done: set[int] = set()
    routed: set[str] = set()
    for port in link.ports:
        for fixed in port.fixed_ips:
            subnet = topology.subnets.get(fixed.subnet_id)
            if subnet is None:
                continue
            dns = _dns(subnet)
            dhcp = subnet.enable_dhcp and subnet.ipv6_address_mode is None
            if subnet.ipv6_address_mode is not None:
                kind = f"ipv6_{subnet.ipv6_address_mode}"
            elif dhcp:
                if subnet.ip_version in dhcp_done:
                    out.append((None, dns))  # no second entry, but its DNS still counts
                    continue
                dhcp_done.add(subnet.ip_version)
                kind = f"ipv{subnet.ip_version}_dhcp"
            else:
                kind = f"ipv{subnet.ip_version}"
            entry: dict[str, Any] = {
                "id": f"network{number}",
                "type": kind,
                "link": link.body["id"],
            }
            number += 1
            if not dhcp:  # keys in Nova's order: the address before the network id
                first = subnet.id not in routed
                routed.add(subnet.id)
                entry.update(_static(subnet, fixed, with_routes=first))
            entry["network_id"] = port.network_id
            if not dhcp:
                entry["services"] = dns
            out.append((entry, dns))
    return out


def _static(subnet: Subnet, fixed: FixedIP, *, with_routes: bool) -> dict[str, Any]:
    routes: list[dict[str, str]] = []
    if with_routes:
        if subnet.gateway_ip:
            anywhere = "0.0.0.0" if subnet.ip_version == 4 else "::"
            routes.append({"network": anywhere, "netmask": anywhere, "gateway": subnet.gateway_ip})
        for route in subnet.host_routes:
            network, mask = network_and_mask(route.destination)
            routes.append({"network": network, "netmask": mask, "gateway": route.nexthop})
    mask = network_and_mask(subnet.cidr)[1]
    return {"ip_address": fixed.ip_address, "netmask": mask, "routes": routes}
