"""The consumer wrappers themselves, checked on hand-written documents.

Every expected value below is worked out by hand from the input and the consumer's
documented format (Debian interfaces(5), ifcfg, systemd.network, cloudbase-init's model,
Nova's network_data.json), never copied from a run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from lxml import etree

from guestmeta.model import FixedIP, FloatingIP, Network, Port, Server, Subnet, Topology
from tests.consumers import ConsumerError, nova
from tests.consumers.cloudbase import parse_network_data
from tests.consumers.glean import run_glean

pytestmark = pytest.mark.consumers("glean", "cloudbase-init", "nova")

MAC = "fa:16:3e:11:22:33"
VLAN_MAC = "fa:16:3e:44:55:66"
OTHER_MAC = "fa:16:3e:77:88:99"
PORT_ID = "6f1a3c2e-8d4b-4e57-9a10-2b3c4d5e6f70"
SERVER_ID = "0b7e9d2a-1c3f-4a5b-8c6d-7e8f9a0b1c2d"

# One NIC with a static IPv4 address, default route and name server, and a VLAN (id 5)
# on top of it with an address of its own.
NETWORK_DATA: dict[str, Any] = {
    "links": [
        {
            "id": "tap6f1a3c2e-8d",
            "vif_id": PORT_ID,
            "type": "phy",
            "mtu": 1500,
            "ethernet_mac_address": MAC,
        },
        {
            "id": "vlan5",
            "vif_id": "a1b2c3d4-0000-4000-8000-000000000005",
            "type": "vlan",
            "vlan_link": "tap6f1a3c2e-8d",
            "vlan_id": 5,
            "vlan_mac_address": VLAN_MAC,
        },
    ],
    "networks": [
        {
            "id": "network0",
            "type": "ipv4",
            "link": "tap6f1a3c2e-8d",
            "ip_address": "192.0.2.10",
            "netmask": "255.255.255.0",
            "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "192.0.2.1"}],
            "network_id": "net-a",
            "services": [{"type": "dns", "address": "192.0.2.53"}],
        },
        {
            "id": "network1",
            "type": "ipv4",
            "link": "vlan5",
            "ip_address": "198.51.100.7",
            "netmask": "255.255.255.128",
            "routes": [],
            "network_id": "net-b",
        },
    ],
    "services": [{"type": "dns", "address": "192.0.2.53"}],
}
META_DATA = {"uuid": SERVER_ID, "name": "vm1", "hostname": "vm1"}


# -- glean ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def debian() -> dict[str, str]:
    return run_glean(NETWORK_DATA, META_DATA, {"eth0": MAC, "eth1": OTHER_MAC}, "debian")


def test_glean_debian_static_address(debian: dict[str, str]) -> None:
    lines = debian["/etc/network/interfaces.d/eth0.cfg"].splitlines()
    assert "iface eth0 inet static" in lines
    assert "    address 192.0.2.10" in lines
    assert "    netmask 255.255.255.0" in lines
    assert "    gateway 192.0.2.1" in lines
    assert debian["/etc/resolv.conf"] == "nameserver 192.0.2.53\n"


def test_glean_debian_vlan(debian: dict[str, str]) -> None:
    lines = debian["/etc/network/interfaces.d/eth0.5.cfg"].splitlines()
    assert "iface eth0.5 inet static" in lines
    assert "    vlan-raw-device eth0" in lines
    assert "    address 198.51.100.7" in lines
    assert "    netmask 255.255.255.128" in lines


def test_glean_debian_unknown_nic_falls_back_to_dhcp(debian: dict[str, str]) -> None:
    # eth1's MAC is in no link: glean gives it DHCP rather than leaving it down.
    assert "iface eth1 inet dhcp" in debian["/etc/network/interfaces.d/eth1.cfg"]


def test_glean_centos_ifcfg() -> None:
    files = run_glean(NETWORK_DATA, META_DATA, {"eth0": MAC}, "centos")
    eth0 = files["/etc/sysconfig/network-scripts/ifcfg-eth0"].splitlines()
    assert "BOOTPROTO=static" in eth0
    assert f"HWADDR={MAC}" in eth0
    assert "IPADDR=192.0.2.10" in eth0
    assert "NETMASK=255.255.255.0" in eth0
    assert "GATEWAY=192.0.2.1" in eth0
    vlan = files["/etc/sysconfig/network-scripts/ifcfg-eth0.5"].splitlines()
    assert "VLAN=yes" in vlan
    assert "IPADDR=198.51.100.7" in vlan


def test_glean_networkd() -> None:
    files = run_glean(NETWORK_DATA, META_DATA, {"eth0": MAC}, "networkd")
    eth0 = files["/etc/systemd/network/eth0.network"].splitlines()
    assert f"MACAddress={MAC}" in eth0
    assert "Address=192.0.2.10/24" in eth0
    assert "Gateway=192.0.2.1" in eth0
    assert "DNS=192.0.2.53" in eth0
    netdev = files["/etc/systemd/network/eth0-vlan5.netdev"].splitlines()
    assert "Kind=vlan" in netdev
    assert "Id=5" in netdev
    assert "Address=198.51.100.7/25" in files["/etc/systemd/network/eth0-vlan5.network"]


def test_glean_rejects_unknown_distro() -> None:
    with pytest.raises(ValueError, match="distro"):
        run_glean(NETWORK_DATA, META_DATA, {"eth0": MAC}, "windows")


def test_glean_failure_carries_its_stderr() -> None:
    # A physical link without a MAC makes glean fail; its traceback must reach the test.
    broken = {"links": [{"id": "x", "type": "phy"}], "networks": []}
    with pytest.raises(ConsumerError, match="ethernet_mac_address"):
        run_glean(broken, META_DATA, {"eth0": MAC}, "debian")


# -- cloudbase-init ---------------------------------------------------------------------


def test_cloudbase_parses_address_gateway_and_vlan() -> None:
    details = parse_network_data(NETWORK_DATA)
    links = {link["id"]: link for link in details["links"]}
    assert links["tap6f1a3c2e-8d"]["type"] == "physical"
    assert links["tap6f1a3c2e-8d"]["mac_address"] == MAC
    assert links["tap6f1a3c2e-8d"]["mtu"] == 1500
    assert links["vlan5"]["type"] == "vlan"
    assert links["vlan5"]["vlan_id"] == 5
    assert links["vlan5"]["vlan_link"] == "tap6f1a3c2e-8d"
    assert links["vlan5"]["mac_address"] == VLAN_MAC
    networks = {net["link"]: net for net in details["networks"]}
    assert networks["tap6f1a3c2e-8d"]["address_cidr"] == "192.0.2.10/24"
    assert networks["tap6f1a3c2e-8d"]["routes"] == [
        {"network_cidr": "0.0.0.0/0", "gateway": "192.0.2.1"}
    ]
    assert networks["tap6f1a3c2e-8d"]["dns_nameservers"] == ["192.0.2.53"]
    assert networks["vlan5"]["address_cidr"] == "198.51.100.7/25"
    assert details["services"] == [{"addresses": ["192.0.2.53"], "search": None}]


def test_cloudbase_leaves_dhcp_networks_to_the_guest() -> None:
    dhcp = {
        "links": NETWORK_DATA["links"][:1],
        "networks": [
            {"id": "network0", "type": "ipv4_dhcp", "link": "tap6f1a3c2e-8d", "network_id": "n"}
        ],
        "services": [],
    }
    details = parse_network_data(dhcp)
    assert details["networks"] == []
    assert [link["mac_address"] for link in details["links"]] == [MAC]


def test_cloudbase_failure_carries_its_stderr() -> None:
    bond = {
        "links": [{"id": "bond0", "type": "bond", "bond_links": [], "bond_mode": "no-such-mode"}],
        "networks": [],
    }
    with pytest.raises(ConsumerError, match="Unsupported bond mode: no-such-mode"):
        parse_network_data(bond)


# -- Nova ---------------------------------------------------------------------------------


def small_topology(*, dhcp: bool = False) -> Topology:
    """One server with one port: 192.0.2.10 on 192.0.2.0/24, and a floating IP."""
    topology = Topology()
    topology.networks["net-a"] = Network(id="net-a", name="private", mtu=1450)
    topology.subnets["sub-a"] = Subnet(
        id="sub-a",
        network_id="net-a",
        cidr="192.0.2.0/24",
        ip_version=4,
        gateway_ip="192.0.2.1",
        enable_dhcp=dhcp,
        dns_nameservers=("192.0.2.53",),
    )
    topology.ports[PORT_ID] = Port(
        id=PORT_ID,
        network_id="net-a",
        mac_address=MAC,
        fixed_ips=(FixedIP("sub-a", "192.0.2.10"),),
        device_id=SERVER_ID,
    )
    if dhcp:
        topology.ports["dhcp-port"] = Port(
            id="dhcp-port",
            network_id="net-a",
            mac_address="fa:16:3e:00:00:02",
            fixed_ips=(FixedIP("sub-a", "192.0.2.2"),),
            device_owner="network:dhcp",
        )
    topology.floatingips["fip-1"] = FloatingIP(
        id="fip-1",
        floating_ip_address="203.0.113.5",
        port_id=PORT_ID,
        fixed_ip_address="192.0.2.10",
    )
    topology.servers[SERVER_ID] = Server(
        id=SERVER_ID,
        name="vm1",
        domain_name="instance-00000001",
        created=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    assert topology.problems() == []
    return topology


def test_network_info_carries_the_model() -> None:
    (vif,) = nova.network_info(small_topology(), SERVER_ID)
    assert vif["id"] == PORT_ID
    assert vif["address"] == MAC
    assert vif["type"] == "ovs"
    assert vif["devname"] == "tap6f1a3c2e-8d"
    assert vif["network"]["meta"]["mtu"] == 1450
    (subnet,) = vif["network"]["subnets"]
    assert subnet["gateway"]["address"] == "192.0.2.1"
    (ip,) = subnet["ips"]
    assert ip["address"] == "192.0.2.10"
    assert [f["address"] for f in ip["floating_ips"]] == ["203.0.113.5"]
    assert subnet["meta"] == {"enable_dhcp": False}


def test_nova_network_metadata_of_a_static_port() -> None:
    data = nova.network_metadata(nova.network_info(small_topology(), SERVER_ID))
    assert data is not None
    (link,) = data["links"]
    assert link["ethernet_mac_address"] == MAC
    assert link["vif_id"] == PORT_ID
    assert link["mtu"] == 1450
    (net,) = data["networks"]
    assert net["type"] == "ipv4"
    assert net["link"] == link["id"]
    assert net["ip_address"] == "192.0.2.10"
    assert net["netmask"] == "255.255.255.0"
    assert {"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "192.0.2.1"} in net["routes"]
    assert data["services"] == [{"type": "dns", "address": "192.0.2.53"}]


def test_nova_network_metadata_with_a_dhcp_port() -> None:
    # A DHCP port on the subnet makes Nova announce ipv4_dhcp and drop the MTU.
    data = nova.network_metadata(nova.network_info(small_topology(dhcp=True), SERVER_ID))
    assert data is not None
    (link,) = data["links"]
    assert link["mtu"] is None
    (net,) = data["networks"]
    assert net["type"] == "ipv4_dhcp"
    assert "ip_address" not in net


def test_nova_network_metadata_without_ports_is_none() -> None:
    assert nova.network_metadata([]) is None


def test_nova_benchmark_counts_calls() -> None:
    info = nova.network_info(small_topology(), SERVER_ID)
    assert nova.benchmark_network_metadata(info, seconds=0.2) > 10


# -- Nova's libvirt instance metadata ---------------------------------------------------

INSTANCE = {
    "name": "vm1",
    "creation_time": "2024-01-02 03:04:05",
    "package": "30.0.0",
    "flavor": {
        "name": "m1.small",
        "id": "2",
        "memory": 2048,
        "disk": 20,
        "swap": 0,
        "ephemeral": 0,
        "vcpus": 1,
    },
    "image": None,
    "owner": {
        "user_uuid": "9d3c1a52-0f6e-4b8a-a1d2-3c4b5a697887",
        "user_name": "alice",
        "project_uuid": "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8",
        "project_name": "demo",
    },
    "root": {"type": "image", "uuid": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"},
    "ports": [
        {
            "uuid": PORT_ID,
            "ips": [
                {"type": "fixed", "address": "192.0.2.10", "ip_version": 4},
                {"type": "fixed", "address": "2001:db8::10", "ip_version": 6},
            ],
        }
    ],
}


def test_nova_instance_xml() -> None:
    xml = nova.instance_metadata_xml(INSTANCE)
    root = etree.fromstring(xml)
    ns = {"nova": nova.NS_1_1}
    assert root.tag == f"{{{nova.NS_1_1}}}instance"
    assert root.findtext("nova:creationTime", namespaces=ns) == "2024-01-02 03:04:05"
    assert root.find("nova:flavor", ns).get("name") == "m1.small"
    assert root.findtext("nova:flavor/nova:memory", namespaces=ns) == "2048"
    assert root.find("nova:root", ns).get("uuid") == INSTANCE["root"]["uuid"]
    (port,) = root.findall("nova:ports/nova:port", ns)
    assert port.get("uuid") == PORT_ID
    ips = [(ip.get("type"), ip.get("address"), ip.get("ipVersion")) for ip in port]
    assert ips == [("fixed", "192.0.2.10", "4"), ("fixed", "2001:db8::10", "6")]


def test_nova_instance_xml_in_the_old_namespace() -> None:
    # Nova before Wallaby wrote no ports; the element is otherwise the same.
    old = {**INSTANCE, "ports": []}
    root = etree.fromstring(nova.instance_metadata_xml(old, namespace="1.0"))
    assert root.tag == f"{{{nova.NS_1_0}}}instance"
    assert root.findtext(f"{{{nova.NS_1_0}}}name") == "vm1"
    assert nova.NS_1_1 not in etree.tostring(root).decode()
