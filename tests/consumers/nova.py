"""OpenStack Nova as an oracle: its network_data.json and its libvirt instance metadata.

Nova is the reference implementation of both. To ask it, our model is first turned into
Nova's ``network_info`` (the list of VIFs its Neutron code builds and caches per instance),
following ``nova/network/neutron.py`` (``_build_vif_model``, ``_nw_info_build_network``,
``_get_subnets_from_port``, ``_nw_info_get_ips``); then Nova's own code renders it, in the
consumers' environment.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Any

from guestmeta.model import Port, Subnet, Topology
from tests.consumers._run import ConsumerError, run_script

NS_1_1 = "http://openstack.org/xmlns/libvirt/nova/1.1"
NS_1_0 = "http://openstack.org/xmlns/libvirt/nova/1.0"
NAMESPACES = {"1.1": NS_1_1, "1.0": NS_1_0}
# Nova's defaults: [neutron] ovs_bridge, network_model.NIC_NAME_LEN, L3_NETWORK_TYPES.
OVS_BRIDGE = "br-int"
NIC_NAME_LEN = 14
TUNNELED_TYPES = ("vxlan", "gre", "geneve")


def _ip(address: str | None, type_: str) -> dict[str, Any]:
    """nova.network.model.IP: the version comes from the address, None without one."""
    version = ipaddress.ip_address(address).version if address else None
    return {"address": address, "type": type_, "version": version, "meta": {}}


def _dhcp_server(topology: Topology, subnet: Subnet) -> str | None:
    """The address of the subnet's DHCP port, which Nova looks up by device_owner."""
    for port in topology.ports.values():
        if port.network_id == subnet.network_id and port.device_owner == "network:dhcp":
            for fixed in port.fixed_ips:
                if fixed.subnet_id == subnet.id:
                    return fixed.ip_address
    return None


def _subnet(topology: Topology, subnet: Subnet, port: Port) -> dict[str, Any]:
    meta: dict[str, Any] = {"enable_dhcp": False}
    if subnet.ipv6_address_mode:
        meta["ipv6_address_mode"] = subnet.ipv6_address_mode
    dhcp_server = _dhcp_server(topology, subnet)
    if dhcp_server is not None:
        meta["dhcp_server"] = dhcp_server
    if subnet.enable_dhcp:
        meta["enable_dhcp"] = True
    network = ipaddress.ip_network(subnet.cidr)
    ips = []
    # Nova puts every fixed IP of the port that falls inside the subnet's CIDR.
    for fixed in port.fixed_ips:
        if ipaddress.ip_address(fixed.ip_address) in network:
            ip = _ip(fixed.ip_address, "fixed")
            ip["floating_ips"] = [
                _ip(fip.floating_ip_address, "floating")
                for fip in topology.floatingips.values()
                if fip.port_id == port.id and fip.fixed_ip_address == fixed.ip_address
            ]
            ips.append(ip)
    return {
        "cidr": subnet.cidr,
        "version": subnet.ip_version,
        "gateway": _ip(subnet.gateway_ip, "gateway"),
        "dns": [_ip(address, "dns") for address in subnet.dns_nameservers],
        "routes": [
            {
                "cidr": route.destination,
                "gateway": _ip(route.nexthop, "gateway"),
                "interface": None,
                "meta": {},
            }
            for route in subnet.host_routes
        ],
        "ips": ips,
        "meta": meta,
    }


def _vif(topology: Topology, port: Port) -> dict[str, Any]:
    vif_type = port.vif_type or "ovs"
    network = topology.networks.get(port.network_id)
    bridge: str | None = None
    ovs_interfaceid: str | None = None
    network_meta: dict[str, Any] = {}
    if vif_type == "ovs":
        bridge = OVS_BRIDGE
        ovs_interfaceid = port.id
    elif vif_type == "dvs":
        bridge = port.network_id
    elif vif_type == "bridge":
        # Current Nova refuses Linux bridge VIFs; earlier releases named the bridge
        # after the network, as here, and asked for it to be created.
        bridge = ("brq" + port.network_id)[:NIC_NAME_LEN]
        network_meta["should_create_bridge"] = True
    subnet_ids = list(dict.fromkeys(fixed.subnet_id for fixed in port.fixed_ips))
    known = [topology.subnets[sid] for sid in subnet_ids if sid in topology.subnets]
    subnets = [_subnet(topology, subnet, port) for subnet in known]
    network_type = network.network_type if network else None
    network_meta.update(
        {
            "injected": False,
            "tenant_id": (network.project_id if network else None) or port.project_id,
            "mtu": network.mtu if network else None,
            "physical_network": network.physical_network if network else None,
            "tunneled": network_type in TUNNELED_TYPES,
        }
    )
    return {
        "id": port.id,
        "address": port.mac_address,
        "network": {
            "id": port.network_id,
            "bridge": bridge,
            "label": network.name if network else None,
            "subnets": subnets,
            "meta": network_meta,
        },
        "type": vif_type,
        "details": {},
        "devname": ("tap" + port.id)[:NIC_NAME_LEN],
        "ovs_interfaceid": ovs_interfaceid,
        "qbh_params": None,
        "qbg_params": None,
        "active": True,
        "vnic_type": port.vnic_type,
        "profile": {},
        "preserve_on_delete": False,
        "delegate_create": True,
        "meta": {},
    }


def network_info(topology: Topology, server_id: str) -> list[dict[str, Any]]:
    """Nova's network_info for a server: one VIF per port plugged into it, in order.

    Trunk sub-ports are not VIFs of their own in Nova (they reach the guest through the
    parent's VIF), and Nova knows nothing of bonds, so neither appears here.
    """
    return [_vif(topology, port) for port in topology.index.ports(server_id)]


def network_metadata(info: list[dict[str, Any]]) -> dict[str, Any] | None:
    """``nova.virt.netutils.get_network_metadata(NetworkInfo.hydrate(info))``."""
    result: dict[str, Any] | None = run_script("nova_network_metadata.py", info)
    return result


def network_metadata_many(
    infos: list[list[dict[str, Any]]],
) -> list[dict[str, Any] | ConsumerError | None]:
    """:func:`network_metadata` for many network_infos in one Nova interpreter.

    Each result is Nova's document (``None`` for no VIF), or the :class:`ConsumerError`
    carrying the traceback of the network_info Nova failed on.
    """
    answers = run_script("nova_network_metadata_many.py", infos)
    return [
        ConsumerError("nova_network_metadata_many.py", 1, a["error"])
        if "error" in a
        else a["document"]
        for a in answers
    ]


def benchmark_network_metadata(info: list[dict[str, Any]], seconds: float = 2.0) -> float:
    """Calls per second of Nova's get_network_metadata on this network_info.

    Timed inside Nova's environment, after hydration, so neither the subprocess nor the
    JSON round trip is counted: this is Nova's own cost, the baseline to compare with.
    """
    result = run_script("nova_network_metadata.py", info, repr(seconds), timeout=seconds + 300)
    return float(result["calls_per_second"])


def _epoch(value: str | float | int | datetime) -> float:
    """Nova keeps creationTime as epoch seconds and prints it as UTC."""
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def instance_metadata_xml(values: dict[str, Any], namespace: str = "1.1") -> str:
    """The ``<nova:instance>`` element as Nova's config classes produce and serialize it.

    ``values``: ``name``, ``creation_time`` ("YYYY-MM-DD HH:MM:SS" in UTC, ISO 8601, a
    datetime or epoch seconds), ``package`` (Nova's version string), ``flavor``
    {name, id, memory, disk, swap, ephemeral, vcpus, extra_specs?}, ``image``
    {container_format?, disk_format?, min_disk?, min_ram?, properties?} or None (Nova
    always names the root's uuid in it), ``owner`` {user_uuid, user_name, project_uuid,
    project_name}, ``root`` {type: image|volume, uuid}, ``ports`` [{uuid, ips: [{type,
    address, ip_version}]}].

    ``namespace="1.0"`` gives the same element under the namespace Nova used before
    Wallaby. Nova moved to 1.1 when it added ``<nova:ports>``, so a real 1.0 element has no
    ports (and, in older releases, no flavor id): leave them out of ``values`` to get one.
    """
    if namespace not in NAMESPACES:
        raise ValueError(f"namespace must be one of {', '.join(NAMESPACES)}, not {namespace!r}")
    payload = dict(values)
    payload["creation_time"] = _epoch(values["creation_time"])
    xml: str = run_script("nova_instance_xml.py", payload)["xml"]
    return xml.replace(NS_1_1, NAMESPACES[namespace])
