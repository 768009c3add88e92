"""What a server's ``nova:instance`` element should say, from the model.

Unlike Nova we list floating IPs next to the fixed ones, keep the server's real creation
time, and never fail the whole element for one odd port. Ports come from the topology
index: each plugged port in attachment order, its trunk's sub-ports after it by VLAN.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from datetime import UTC
from importlib.metadata import PackageNotFoundError, version

from guestmeta.domainxml.instance import IP, TIME_FORMAT, FlavorInfo, InstanceMetadata, PortIPs
from guestmeta.model import Port, Server, Topology, TopologyIndex


def package_version() -> str:
    try:
        return version("guestmeta")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0"


def _ip(address: str, kind: str) -> IP:
    return IP(kind, address, ipaddress.ip_address(address).version)


def port_ips(index: TopologyIndex, port: Port) -> PortIPs:
    """A port's fixed IPs in their order, then the floating IPs that point at it."""
    ips = [_ip(fixed.ip_address, "fixed") for fixed in port.fixed_ips]
    ips += [_ip(fip.floating_ip_address, "floating") for fip in index.floating_ips(port.id)]
    return PortIPs(port.id, tuple(ips))


def desired(topology: Topology, server_id: str, package: str | None = None) -> InstanceMetadata:
    """The element a server's domain should carry, from the store's view of it."""
    return desired_many(topology, [server_id], package)[server_id]


def desired_many(
    topology: Topology, server_ids: Iterable[str], package: str | None = None
) -> dict[str, InstanceMetadata]:
    """``desired`` for many servers, all read from the topology's one index."""
    index = topology.index
    package = package if package is not None else package_version()
    return {sid: _desired(topology.servers[sid], index, package) for sid in server_ids}


def _desired(server: Server, index: TopologyIndex, package: str) -> InstanceMetadata:
    flavor = server.flavor
    return InstanceMetadata(
        name=server.name,
        creation_time=server.created.astimezone(UTC).strftime(TIME_FORMAT),
        package=package,
        flavor=FlavorInfo(
            name=flavor.name,
            id=flavor.id,
            memory=flavor.ram,
            disk=flavor.disk,
            swap=flavor.swap,
            ephemeral=flavor.ephemeral,
            vcpus=flavor.vcpus,
            extra_specs=tuple(sorted(flavor.extra_specs.items())),
        ),
        image_uuid=server.image_id,
        user_uuid=server.user_id,
        user_name=server.user_name,
        project_uuid=server.project_id,
        project_name=server.project_name,
        root_type="image" if server.image_id else None,
        root_uuid=server.image_id,
        ports=tuple(port_ips(index, port) for port in index.all_ports(server.id)),
    )
