"""What each listing shows: one plain dict per item, the same for JSON and tables.

Every question about how items relate (a server's ports, floating IPs, trunk parents,
bonds) goes to the topology index, so a listing says what the documents and the domain
XML say.
"""

from __future__ import annotations

import base64
from typing import Any

from guestmeta.model import FloatingIP, Network, Port, Server, Subnet, Topology, TopologyIndex

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


def floatingip_row(fip: FloatingIP, index: TopologyIndex) -> dict[str, Any]:
    return {
        "id": fip.id,
        "floating_ip_address": fip.floating_ip_address,
        "floating_network_id": fip.floating_network_id,
        "port_id": fip.port_id,
        "fixed_ip_address": fip.fixed_ip_address,
        "server_id": index.server_of_port(fip.port_id or ""),
    }


def server_row(server: Server, index: TopologyIndex) -> dict[str, Any]:
    ports = list(index.all_ports(server.id))
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
        "floating_ips": sorted(
            f.floating_ip_address for p in ports for f in index.floating_ips(p.id)
        ),
    }


def server_detail(server: Server, topology: Topology) -> dict[str, Any]:
    index = topology.index
    row = server_row(server, index)
    ports = []
    for port in index.all_ports(server.id):
        prow = port_row(port)
        prow["floating_ips"] = [
            {"floating_ip_address": f.floating_ip_address, "fixed_ip_address": f.fixed_ip_address}
            for f in index.floating_ips(port.id)
        ]
        parent = index.parent_of.get(port.id)
        prow["trunk_parent"] = (
            {"port_id": parent.parent.id, "vlan": parent.vlan} if parent else None
        )
        ports.append(prow)
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
            for b in index.bonds(server.id)
        ],
    )
    return row


def rows(kind: str, topology: Topology) -> list[dict[str, Any]]:
    index = topology.index
    if kind == "servers":
        return [server_row(s, index) for s in _sorted(topology.servers.values())]
    if kind == "ports":
        return [port_row(p) for p in _sorted(topology.ports.values())]
    if kind == "networks":
        return [network_row(n, topology) for n in _sorted(topology.networks.values())]
    if kind == "subnets":
        return [subnet_row(s) for s in _sorted(topology.subnets.values())]
    ordered = sorted(topology.floatingips.values(), key=lambda f: f.floating_ip_address)
    return [floatingip_row(f, index) for f in ordered]
