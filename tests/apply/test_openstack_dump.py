"""Applying a dump saved from real Neutron and Nova APIs, file by file as an operator saves them.

The files under tests/data/openstack are response bodies of GET /v2.0/networks, /v2.0/subnets,
/v2.0/ports, /v2.0/floatingips (Neutron), GET /servers/detail at microversion 2.47 and
GET /os-keypairs (Nova). Every expected value below was read off those files by hand.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from guestmeta.apply import ApplyError, Change, load_document, plan_apply
from guestmeta.apply.source import Document
from guestmeta.documents import network_data
from guestmeta.model import FixedIP, HostRoute, SubPort
from guestmeta.store import Result, Store
from tests.conftest import DUMP, DUMP_FILES

PROJECT = "8d1a5e0c2f4b4e6a9c3d7b5f1e2a4c60"
USER = "c4a2f6e8b0d14f2a8c6e4b2d0f8a6c41"

NET_PRIVATE = "d8d10649-3e54-531f-bf48-c05e4ae73125"
NET_VLAN120 = "91b00110-69b5-5b95-a762-2fd7ea3420de"
NET_STORAGE = "2ece46d2-a32b-5d3a-a675-6d52c7ff82bc"
NET_PUBLIC = "923442b7-8599-5610-a8d6-ded5f5a3122f"

SUB_PRIVATE_V4 = "56675d99-c220-5ebe-bece-1ad52d99e240"
SUB_PRIVATE_SLAAC = "24f88912-0c47-5b90-a69a-a858b36cdad2"
SUB_PRIVATE_DHCP6 = "57fd79fc-c49c-523b-a77d-7ab6bcc2fc2f"
SUB_VLAN120 = "13d72a7b-649e-5dd5-839c-c5b80397a262"
SUB_STORAGE = "9d14a039-d9b0-5c31-9cea-b0b0afeee20d"
SUB_PUBLIC = "9d244a52-6760-5410-82a2-24dc89d2f3c2"

WEB01 = "7990f02f-b7a4-5e19-a54a-3db5d9dd5390"
WEB02 = "b4d31cfb-0799-5494-887c-f31e5bf2fbb6"
DB01 = "8b7eb7c4-1d24-5e55-8777-e6bdbf2c9db4"
DB06 = "e1e26be6-e7df-5135-844b-02d0304da4c0"
LB01 = "84d0d939-cf50-526c-870f-351a6ccafa73"
LB02 = "6f7ea8ec-9a3c-50db-bcf1-f1563b1948ca"
K8S01 = "2ab2c9d6-faaf-5933-98da-d1602c191aac"

PORT_WEB01 = "1215dd15-e517-5e18-b108-a93d2ab2df1c"
PORT_DB01 = "e8988bcf-64b2-520c-96f6-ee32c6354d9f"
PORT_DB01_VLAN = "69e62157-507a-5611-98ab-770dbc11dedf"
PORT_LB01 = "c6b6692e-f47f-531f-932d-0e3c4da782be"
PORT_K8S01_TRUNK = "4f8ab83c-3855-598b-b4e2-74c4817f6666"
PORT_K8S01_VLAN120 = "311f437d-ddd8-5ddc-a76c-d7ad6af23255"
PORT_K8S01_STORAGE = "a15dfd27-f43c-53f6-954d-90fb31314ceb"
TRUNK_K8S01 = "da76e411-5629-50bb-b278-c06ae0b54ad2"
PORT_ROUTER_V4 = "0790836e-7bb4-5468-8d5e-1c43d73dadae"
PORT_ROUTER_V6 = "eb4b69d5-44b8-523b-b016-d7e242ef367e"
PORT_ROUTER_GW = "39592c71-443c-5589-ab21-65816d76b336"
PORT_DHCP = "39dcdf44-ebce-5ef7-a65a-2b5ab9c78056"
ROUTER = "614bbe2d-c3cb-5003-9671-3c183e58197e"

FIP_WEB01 = "c758227a-f240-5a06-817c-477d0f9acbaf"
FIP_LB01 = "3c2405ea-cbea-59d2-809f-7d6878570ca5"
FIP_SPARE = "585cc810-96d9-50ba-8a5a-e4717baa7570"
PORT_FIP_WEB01 = "49fd9c35-e93d-5461-ad9b-74ddf5dadbf2"


def documents(*names: str) -> list[Document]:
    return [load_document(str(DUMP / name)) for name in names or DUMP_FILES]


def apply(store: Store, docs: list[Document], prune: bool = False) -> Result:
    return store.change(lambda current: plan_apply(current, docs, prune=prune))


@pytest.fixture
def applied(store: Store) -> Result:
    return apply(store, documents())


def test_every_item_of_the_dump_is_stored(store: Store, applied: Result) -> None:
    # 4 networks, 6 subnets; ports: 2 router interfaces + router gateway + DHCP (4),
    # 35 server ports on "private" (lb-02 has none), 6 db ports on provider-vlan120,
    # 4 trunks x 2 sub-ports (8), one network:floatingip port per floating IP (4) = 57.
    expected = {
        "networks": 4,
        "subnets": 6,
        "ports": 57,
        "floatingips": 4,
        "bonds": 0,
        "keypairs": 2,
        "servers": 36,
    }
    assert applied.revision == 1
    assert {c.action for c in applied.changes} == {"create"}
    assert len(applied.changes) == sum(expected.values())
    loaded = store.load()
    assert {kind: len(loaded.collection(kind)) for kind in expected} == expected
    assert store.revision() == 1


def test_networks_keep_their_provider_attributes(store: Store, applied: Result) -> None:
    nets = store.load().networks
    private = nets[NET_PRIVATE]
    assert (private.name, private.mtu, private.network_type, private.segmentation_id) == (
        "private",
        1450,
        "vxlan",
        1042,
    )
    assert private.physical_network is None
    assert not private.external and not private.shared
    assert private.project_id == PROJECT
    vlan = nets[NET_VLAN120]
    assert (vlan.network_type, vlan.physical_network, vlan.segmentation_id) == (
        "vlan",
        "physnet1",
        120,
    )
    assert vlan.shared is True
    public = nets[NET_PUBLIC]
    assert public.external is True
    assert (public.network_type, public.physical_network, public.segmentation_id) == (
        "flat",
        "extnet",
        None,
    )
    assert nets[NET_STORAGE].mtu == 8950


def test_subnets_keep_modes_pools_routes_and_dns(store: Store, applied: Result) -> None:
    subnets = store.load().subnets
    v4 = subnets[SUB_PRIVATE_V4]
    assert (v4.network_id, v4.cidr, v4.ip_version, v4.gateway_ip) == (
        NET_PRIVATE,
        "10.20.0.0/24",
        4,
        "10.20.0.1",
    )
    assert v4.enable_dhcp is True
    assert v4.dns_nameservers == ("192.0.2.53", "192.0.2.54")
    assert v4.host_routes == (HostRoute("172.31.0.0/16", "10.20.0.254"),)
    assert [(p.start, p.end) for p in v4.allocation_pools] == [("10.20.0.2", "10.20.0.254")]
    slaac = subnets[SUB_PRIVATE_SLAAC]
    assert (slaac.ip_version, slaac.ipv6_address_mode, slaac.ipv6_ra_mode) == (
        6,
        "slaac",
        "slaac",
    )
    dhcp6 = subnets[SUB_PRIVATE_DHCP6]
    assert (dhcp6.ipv6_address_mode, dhcp6.ipv6_ra_mode) == ("dhcpv6-stateful", "dhcpv6-stateful")
    assert dhcp6.dns_nameservers == ("2001:db8::53",)
    assert subnets[SUB_STORAGE].gateway_ip is None
    assert subnets[SUB_VLAN120].enable_dhcp is False
    assert subnets[SUB_PUBLIC].network_id == NET_PUBLIC


def test_server_web01_has_every_nova_attribute(store: Store, applied: Result) -> None:
    web = store.load().servers[WEB01]
    assert web.name == "web-01"
    # The first server of the dump: instance-0x2a.
    assert web.domain_name == "instance-0000002a"
    assert web.hostname == "web-01"
    assert web.host == "compute-01"
    assert web.availability_zone == "nova"
    assert web.project_id == PROJECT
    assert web.user_id == USER
    assert web.created == datetime(2024, 3, 11, 9, 15, 42, tzinfo=UTC)
    assert web.key_name == "ops-key"
    assert web.metadata == {"env": "prod", "owner": "team-frontend", "role": "web"}
    assert web.image_id == "7cc6a0d3-07b6-5636-a548-e7130a7c5905"
    flavor = web.flavor
    assert flavor.name == "m1.small"
    assert (flavor.vcpus, flavor.ram, flavor.disk, flavor.ephemeral, flavor.swap) == (
        1,
        2048,
        20,
        0,
        0,
    )
    assert flavor.extra_specs == {}
    # "I2Nsb3VkLWNvbmZpZwo=" by hand, 4 characters -> 3 bytes:
    # I2Ns -> 8,54,13,44 -> 0x23 0x63 0x6c "#cl"; b3Vk -> "oud"; LWNv -> "-co";
    # bmZp -> "nfi"; Zwo= -> 25,48,40 -> 0x67 0x0a "g\n".
    assert web.user_data == b"#cloud-config\n"
    # "security_groups": [{"name": "default"}], "OS-EXT-SRV-ATTR:reservation_id": "r-0b9d9f06".
    assert web.security_groups == ("default",)
    assert web.reservation_id == "r-0b9d9f06"


def test_server_db01_flavor_with_ephemeral_swap_and_extra_specs(
    store: Store, applied: Result
) -> None:
    db = store.load().servers[DB01]
    # db-01 is the 25th server: 0x2a + 24 = 0x42.
    assert db.domain_name == "instance-00000042"
    assert db.host == "compute-01"
    assert db.key_name == "legacy-rsa"
    assert db.flavor.name == "db.large"
    assert (db.flavor.vcpus, db.flavor.ram, db.flavor.disk) == (8, 32768, 100)
    assert (db.flavor.ephemeral, db.flavor.swap) == (50, 2048)
    assert db.flavor.extra_specs == {
        "hw:cpu_policy": "dedicated",
        "hw:mem_page_size": "1GB",
        "hw:numa_nodes": "1",
    }
    # IyEv Ymlu L3No CnN5 ... -> "#!/" "bin" "/sh" "\nsy" ...
    assert db.user_data == b"#!/bin/sh\nsystemctl enable --now postgresql\n"


def test_servers_without_image_user_data_key_or_ports(store: Store, applied: Result) -> None:
    topology = store.load()
    # Volume-backed: Nova reports "image": "".
    assert topology.servers[DB06].image_id is None
    lb02 = topology.servers[LB02]
    assert lb02.user_data is None  # "OS-EXT-SRV-ATTR:user_data": null
    assert topology.index.ports(LB02) == ()
    k8s = topology.servers[K8S01]
    assert k8s.key_name is None
    assert k8s.availability_zone == "az-2"
    assert k8s.domain_name == "instance-0000004a"  # 0x2a + 32


def test_nova_wrapped_keypairs(store: Store, applied: Result) -> None:
    keys = store.load().keypairs
    assert sorted(keys) == ["legacy-rsa", "ops-key"]
    assert keys["ops-key"].type == "ssh"
    assert keys["ops-key"].public_key.strip() == (
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZ1c3N5LWNhdC1ub3QtYS1yZWFsLWtleQ ops@example.net"
    )
    assert keys["legacy-rsa"].public_key.strip().endswith("Generated-by-Nova")


def test_server_port_keeps_fixed_ips_binding_and_owner(store: Store, applied: Result) -> None:
    port = store.load().ports[PORT_WEB01]
    assert port.network_id == NET_PRIVATE
    assert port.mac_address == "fa:16:3e:e1:4b:f8"
    # SLAAC address as Neutron computed it: fa -> f8 (universal/local bit flipped),
    # ff:fe inserted in the middle: f816:3eff:fee1:4bf8.
    assert port.fixed_ips == (
        FixedIP(SUB_PRIVATE_V4, "10.20.0.10"),
        FixedIP(SUB_PRIVATE_SLAAC, "2001:db8:20:0:f816:3eff:fee1:4bf8"),
        FixedIP(SUB_PRIVATE_DHCP6, "2001:db8:21::100"),
    )
    assert (port.vif_type, port.vnic_type, port.host) == ("ovs", "normal", "compute-01")
    assert (port.device_id, port.device_owner) == (WEB01, "compute:nova")
    assert port.trunk is None


def test_a_server_with_two_ports_on_two_networks(store: Store, applied: Result) -> None:
    topology = store.load()
    ports = topology.index.ports(DB01)
    assert [p.id for p in ports] == [PORT_DB01, PORT_DB01_VLAN]
    assert ports[1].network_id == NET_VLAN120
    assert ports[1].fixed_ips == (FixedIP(SUB_VLAN120, "192.168.120.100"),)


def test_trunk_sub_ports_ride_on_vlans_of_the_parents_server(store: Store, applied: Result) -> None:
    topology = store.load()
    parent = topology.ports[PORT_K8S01_TRUNK]
    assert parent.device_id == K8S01
    assert parent.trunk is not None
    assert parent.trunk.id == TRUNK_K8S01
    assert parent.trunk.sub_ports == (
        SubPort(PORT_K8S01_VLAN120, 120, "vlan"),
        SubPort(PORT_K8S01_STORAGE, 200, "vlan"),
    )
    vlan_sub = topology.ports[PORT_K8S01_VLAN120]
    assert vlan_sub.network_id == NET_VLAN120
    assert vlan_sub.fixed_ips == (FixedIP(SUB_VLAN120, "192.168.120.151"),)
    assert (vlan_sub.device_owner, vlan_sub.device_id) == ("trunk:subport", TRUNK_K8S01)
    assert vlan_sub.host == "compute-01"
    storage_sub = topology.ports[PORT_K8S01_STORAGE]
    assert storage_sub.fixed_ips == (FixedIP(SUB_STORAGE, "172.16.50.11"),)
    # The server is plugged into the parent only; the sub-ports' addresses are still its own.
    assert [p.id for p in topology.index.ports(K8S01)] == [PORT_K8S01_TRUNK]
    assert topology.index.server_of_port(vlan_sub.id) == K8S01
    assert topology.index.server_of_port(storage_sub.id) == K8S01
    assert store.server_id_for_address(NET_VLAN120, "192.168.120.151") == K8S01
    assert store.server_id_for_address(NET_STORAGE, "172.16.50.11") == K8S01
    # 4 trunks of 2 sub-ports each.
    assert len(topology.trunk_parents()) == 8


def test_floating_ips_map_to_their_fixed_addresses(store: Store, applied: Result) -> None:
    fips = store.load().floatingips
    web = fips[FIP_WEB01]
    assert web.floating_ip_address == "203.0.113.21"
    assert (web.port_id, web.fixed_ip_address) == (PORT_WEB01, "10.20.0.10")
    assert web.floating_network_id == NET_PUBLIC
    assert web.project_id == PROJECT
    lb = fips[FIP_LB01]
    assert (lb.floating_ip_address, lb.port_id, lb.fixed_ip_address) == (
        "203.0.113.23",
        PORT_LB01,
        "10.20.0.40",
    )
    spare = fips[FIP_SPARE]
    assert (spare.floating_ip_address, spare.port_id, spare.fixed_ip_address) == (
        "203.0.113.24",
        None,
        None,
    )


def test_router_dhcp_and_floating_ip_ports_are_kept(store: Store, applied: Result) -> None:
    ports = store.load().ports
    router_v4 = ports[PORT_ROUTER_V4]
    assert router_v4.fixed_ips == (FixedIP(SUB_PRIVATE_V4, "10.20.0.1"),)  # the gateway
    assert (router_v4.device_owner, router_v4.device_id) == ("network:router_interface", ROUTER)
    router_v6 = ports[PORT_ROUTER_V6]
    assert router_v6.fixed_ips == (
        FixedIP(SUB_PRIVATE_SLAAC, "2001:db8:20::1"),
        FixedIP(SUB_PRIVATE_DHCP6, "2001:db8:21::1"),
    )
    gateway = ports[PORT_ROUTER_GW]
    assert gateway.device_owner == "network:router_gateway"
    assert gateway.fixed_ips == (FixedIP(SUB_PUBLIC, "203.0.113.10"),)
    dhcp = ports[PORT_DHCP]
    assert dhcp.device_owner == "network:dhcp"
    assert dhcp.fixed_ips == (
        FixedIP(SUB_PRIVATE_V4, "10.20.0.2"),
        FixedIP(SUB_PRIVATE_SLAAC, "2001:db8:20:0:f816:3eff:fe5e:581d"),
        FixedIP(SUB_PRIVATE_DHCP6, "2001:db8:21::2"),
    )
    assert dhcp.device_id == (
        "dhcp6ed0c892-4ae2-5260-8d4e-870ddc2cde3c-d8d10649-3e54-531f-bf48-c05e4ae73125"
    )
    fip_port = ports[PORT_FIP_WEB01]
    assert (fip_port.device_owner, fip_port.device_id) == ("network:floatingip", FIP_WEB01)
    assert fip_port.vif_type == "unbound"
    assert fip_port.host is None  # "binding:host_id": ""
    # None of these addresses belongs to a server.
    assert store.server_id_for_address(NET_PRIVATE, "10.20.0.1") is None
    assert store.server_id_for_address(NET_PRIVATE, "10.20.0.2") is None
    assert store.server_id_for_address(NET_PUBLIC, "203.0.113.21") is None


def test_applying_the_same_files_again_changes_nothing(store: Store, applied: Result) -> None:
    before = store.load()
    again = apply(store, documents())
    assert again.changes == []
    assert again.revision == 1
    assert store.revision() == 1
    assert store.load() == before


def test_files_applied_one_kind_at_a_time_give_the_same_state(
    store: Store, applied: Result, store_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if store_url.startswith("sqlite"):
        other_url = f"sqlite:///{tmp_path / 'stepwise.db'}"
    else:
        other_url = request.getfixturevalue("postgres").create_database(
            f"stepwise_{uuid.uuid4().hex}"
        )
    with Store(other_url) as other:
        apply(other, documents("networks.json", "subnets.json"))
        # Ports before servers: their device_id names servers the store has not seen yet.
        apply(other, documents("ports.json", "floatingips.json"))
        last = apply(other, documents("keypairs.json", "servers.json"))
        assert last.revision == 3
        assert other.load() == store.load()
        assert other.server_id_for_address(NET_PRIVATE, "10.20.0.10") == WEB01
        assert other.server_id_for_address(NET_VLAN120, "192.168.120.151") == K8S01


def test_changing_one_server_in_the_dump_updates_only_it(
    store: Store, applied: Result, tmp_path: Path
) -> None:
    body = json.loads((DUMP / "servers.json").read_text())
    for server in body["servers"]:
        if server["id"] == WEB02:
            server["metadata"]["env"] = "staging"
    path = tmp_path / "servers.json"
    path.write_text(json.dumps(body))
    result = apply(store, [load_document(str(path)), *documents("keypairs.json")])
    assert result.changes == [Change("servers", WEB02, "update")]
    assert result.revision == 2
    topology = store.load()
    assert topology.servers[WEB02].metadata == {"env": "staging", "role": "web"}
    # Without prune, applying only servers and keypairs leaves every port in place.
    assert len(topology.ports) == 57


def test_a_paginated_page_with_links_applies(store: Store, tmp_path: Path) -> None:
    # Nova and Neutron add "<collection>_links" to a page when there are more to fetch
    # (servers_links, keypairs_links, networks_links...): a saved page is a real body too.
    networks = json.loads((DUMP / "networks.json").read_text())
    networks["networks_links"] = [
        {"href": "https://network.example.net:9696/v2.0/networks?limit=4&marker=x", "rel": "next"}
    ]
    keypairs = json.loads((DUMP / "keypairs.json").read_text())
    keypairs["keypairs_links"] = [
        {"href": "https://compute.example.net:8774/v2.1/os-keypairs?limit=2", "rel": "next"}
    ]
    for name, body in (("networks.json", networks), ("keypairs.json", keypairs)):
        (tmp_path / name).write_text(json.dumps(body))
    docs = [load_document(str(tmp_path / n)) for n in ("networks.json", "keypairs.json")]
    result = apply(store, docs)
    assert len(result.changes) == 4 + 2


def _ports_with_sub_port_device(tmp_path: Path, device_id: str, owner: str) -> Path:
    """ports.json with k8s-01's sub-ports naming ``device_id``, as newer Neutron does."""
    body = json.loads((DUMP / "ports.json").read_text())
    for port in body["ports"]:
        if port["id"] in (PORT_K8S01_VLAN120, PORT_K8S01_STORAGE):
            port["device_id"], port["device_owner"] = device_id, owner
    path = tmp_path / "ports.json"
    path.write_text(json.dumps(body))
    return path


def _dump_with(ports: Path) -> list[Document]:
    names = [n for n in DUMP_FILES if n != "ports.json"]
    return [*documents(*names), load_document(str(ports))]


def test_sub_ports_naming_their_parents_server_apply_and_reapply(
    store: Store, tmp_path: Path
) -> None:
    docs = _dump_with(_ports_with_sub_port_device(tmp_path, K8S01, "trunk:subport"))
    apply(store, docs)
    topology = store.load()
    # Stored as the dump says it, and still a sub-port of the trunk, not a second NIC.
    assert topology.ports[PORT_K8S01_VLAN120].device_id == K8S01
    assert [p.id for p in topology.index.ports(K8S01)] == [PORT_K8S01_TRUNK]
    assert [s.port.id for s in topology.index.sub_ports(PORT_K8S01_TRUNK)] == [
        PORT_K8S01_VLAN120,
        PORT_K8S01_STORAGE,
    ]
    assert store.server_id_for_address(NET_VLAN120, "192.168.120.151") == K8S01
    links = network_data(topology, K8S01)
    assert links is not None
    vlans = [(link["vif_id"], link["vlan_id"]) for link in links["links"] if link["type"] == "vlan"]
    assert vlans == [(PORT_K8S01_VLAN120, 120), (PORT_K8S01_STORAGE, 200)]
    again = apply(store, docs)
    assert again.changes == []


def test_a_sub_port_naming_another_server_is_refused(store: Store, tmp_path: Path) -> None:
    docs = _dump_with(_ports_with_sub_port_device(tmp_path, WEB01, "trunk:subport"))
    with pytest.raises(ApplyError) as refused:
        apply(store, docs)
    assert any(
        f"sub-port {PORT_K8S01_VLAN120} names server {WEB01}, but its trunk parent "
        f"{PORT_K8S01_TRUNK} is plugged into server {K8S01}" in line
        for line in refused.value.lines
    ), refused.value.lines
    assert store.revision() == 0


def test_a_sub_port_also_plugged_directly_is_refused(store: Store, tmp_path: Path) -> None:
    docs = _dump_with(_ports_with_sub_port_device(tmp_path, K8S01, "compute:nova"))
    with pytest.raises(ApplyError) as refused:
        apply(store, docs)
    assert any(
        f"port {PORT_K8S01_VLAN120} is plugged into server {K8S01} directly" in line
        for line in refused.value.lines
    ), refused.value.lines
