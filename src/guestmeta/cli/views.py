"""What each listing shows: one plain dict per item, the same for JSON and tables."""

from __future__ import annotations

import base64
from typing import Any

from guestmeta.model import FloatingIP, Network, Port, Server, Subnet, Topology

COLUMNS = {
    "servers": ["name", "id", "domain_name", "host", "flavor", "addresses", "floating_ips"],
    "ports": ["name", "id", "network_id", "mac_address", "fixed_ips", "device_id", "sub_ports"],
    "networks": ["name", "id", "mtu", "network_type", "segmentation_id", "external", "subnets"],
    "subnets": ["name", "id", "network_id", "cidr", "gateway_ip", "enable_dhcp", "ipv6_modes"],
    "floatingips": ["floating_ip_address", "id", "port_id", "fixed_ip_address", "server_id"],
}


DETAIL_TABLES = {
    "ports": ["name", "id", "mac_address", "network_id", "fixed_ips", "floating_ips",
              "trunk_parent", "sub_ports"],
    "bonds": ["name", "id", "mode", "ports"],
}  # fmt: skip


def _sorted(items: Any) -> list[Any]:
    return sorted(items, key=lambda i: (getattr(i, "name", ""), i.id))


def port_row(port: Port) -> dict[str, Any]:
    return {
        "id": port.id,
        "name": port.name,
        "network_id": port.network_id,
        "mac_address": port.mac_address,
        "fixed_ips": [ip.ip_address for ip in port.fixed_ips],
        "device_id": port.device_id,
        "device_owner": port.device_owner,
        "vif_type": port.vif_type,
        "vnic_type": port.vnic_type,
        "host": port.host,
        "sub_ports": [
            {"port_id": s.port_id, "vlan": s.segmentation_id}
            for s in (port.trunk.sub_ports if port.trunk else ())
        ],
    }


def network_row(network: Network, topology: Topology) -> dict[str, Any]:
    subnets = [s.id for s in _sorted(topology.subnets.values()) if s.network_id == network.id]
    return {
        "id": network.id,
        "name": network.name,
        "mtu": network.mtu,
        "network_type": network.network_type,
        "physical_network": network.physical_network,
        "segmentation_id": network.segmentation_id,
        "external": network.external,
        "subnets": subnets,
    }


def subnet_row(subnet: Subnet) -> dict[str, Any]:
    modes = [m for m in (subnet.ipv6_address_mode, subnet.ipv6_ra_mode) if m]
    return {
        "id": subnet.id,
        "name": subnet.name,
        "network_id": subnet.network_id,
        "ip_version": subnet.ip_version,
        "cidr": subnet.cidr,
        "gateway_ip": subnet.gateway_ip,
        "enable_dhcp": subnet.enable_dhcp,
        "ipv6_address_mode": subnet.ipv6_address_mode,
        "ipv6_ra_mode": subnet.ipv6_ra_mode,
        "ipv6_modes": "/".join(modes),
        "dns_nameservers": list(subnet.dns_nameservers),
        "host_routes": [{"destination": r.destination, "nexthop": r.nexthop} for r in
                        subnet.host_routes],
        "allocation_pools": [{"start": p.start, "end": p.end} for p in subnet.allocation_pools],
    }  # fmt: skip


def floatingip_row(
    fip: FloatingIP, topology: Topology, parents: dict[str, tuple[Port, int]]
) -> dict[str, Any]:
    port = topology.ports.get(fip.port_id or "")
    return {
        "id": fip.id,
        "floating_ip_address": fip.floating_ip_address,
        "floating_network_id": fip.floating_network_id,
        "port_id": fip.port_id,
        "fixed_ip_address": fip.fixed_ip_address,
        "server_id": topology.port_server(port, parents) if port else "",
    }


def server_ports(topology: Topology, server: Server, own: list[Port] | None = None) -> list[Port]:
    """The server's ports in order, each followed by its trunk sub-ports."""
    out: list[Port] = []
    for port in topology.server_ports(server.id) if own is None else own:
        out.append(port)
        for sub in port.trunk.sub_ports if port.trunk else ():
            if sub.port_id in topology.ports:
                out.append(topology.ports[sub.port_id])
    return out


def server_row(
    server: Server,
    topology: Topology,
    own: list[Port] | None = None,
    fips: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    ports = server_ports(topology, server, own)
    if fips is None:
        fips = floating_by_port(topology)
    return {
        "id": server.id,
        "name": server.name,
        "hostname": server.hostname,
        "domain_name": server.domain_name,
        "host": server.host,
        "project_id": server.project_id,
        "user_id": server.user_id,
        "availability_zone": server.availability_zone,
        "flavor": server.flavor.name,
        "image_id": server.image_id,
        "key_name": server.key_name,
        "created": server.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "addresses": [ip.ip_address for p in ports for ip in p.fixed_ips],
        "floating_ips": sorted(a for p in ports for a in fips.get(p.id, ())),
    }


def floating_by_port(topology: Topology) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for fip in topology.floatingips.values():
        if fip.port_id:
            found.setdefault(fip.port_id, []).append(fip.floating_ip_address)
    return found


def server_detail(server: Server, topology: Topology) -> dict[str, Any]:
    row = server_row(server, topology)
    ports = []
    parents = topology.trunk_parents()
    for port in server_ports(topology, server):
        prow = port_row(port)
        prow["floating_ips"] = [
            {"floating_ip_address": f.floating_ip_address, "fixed_ip_address": f.fixed_ip_address}
            for f in topology.floatingips.values()
            if f.port_id == port.id
        ]
        parent = parents.get(port.id)
        prow["trunk_parent"] = {"port_id": parent[0].id, "vlan": parent[1]} if parent else None
        ports.append(prow)
    port_ids = {p["id"] for p in ports}
    row.update(
        project_name=server.project_name,
        user_name=server.user_name,
        launch_index=server.launch_index,
        metadata=dict(server.metadata),
        flavor={
            "name": server.flavor.name,
            "id": server.flavor.id,
            "vcpus": server.flavor.vcpus,
            "ram": server.flavor.ram,
            "disk": server.flavor.disk,
            "ephemeral": server.flavor.ephemeral,
            "swap": server.flavor.swap,
            "extra_specs": dict(server.flavor.extra_specs),
        },
        user_data=base64.b64encode(server.user_data).decode() if server.user_data else None,
        ports=ports,
        bonds=[
            {"id": b.id, "name": b.name, "ports": list(b.ports), "mode": b.mode}
            for b in topology.bonds.values()
            if port_ids & set(b.ports)
        ],
    )
    return row


def rows(kind: str, topology: Topology) -> list[dict[str, Any]]:
    if kind == "servers":
        by_server = topology.ports_by_server()
        fips = floating_by_port(topology)
        return [
            server_row(s, topology, by_server.get(s.id, []), fips)
            for s in _sorted(topology.servers.values())
        ]
    if kind == "ports":
        return [port_row(p) for p in _sorted(topology.ports.values())]
    if kind == "networks":
        return [network_row(n, topology) for n in _sorted(topology.networks.values())]
    if kind == "subnets":
        return [subnet_row(s) for s in _sorted(topology.subnets.values())]
    ordered = sorted(topology.floatingips.values(), key=lambda f: f.floating_ip_address)
    parents = topology.trunk_parents()
    return [floatingip_row(f, topology, parents) for f in ordered]
