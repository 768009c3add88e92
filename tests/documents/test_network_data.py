"""network_data.json itself: structure checked against the hand-written matrix."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest

from guestmeta.documents import network_data
from guestmeta.documents.network_data import link_id
from guestmeta.model import KINDS, Bond, FixedIP, Topology
from tests.documents.topologies import BY_NAME, CASES, SERVER_ID, Case

IDS = [case.name for case in CASES]


def render(case: Case) -> dict:  # type: ignore[type-arg]
    document = network_data(case.topology, case.server_id)
    assert document is not None
    return document


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_entry_types_and_numbering(case: Case) -> None:
    document = render(case)
    assert tuple(n["type"] for n in document["networks"]) == case.types
    assert [n["id"] for n in document["networks"]] == [
        f"network{i}" for i in range(len(case.types))
    ]
    assert document["services"] == [{"type": "dns", "address": a} for a in case.dns]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_links_carry_mtu_and_mac_but_no_name(case: Case) -> None:
    document = render(case)
    link_ids = [link["id"] for link in document["links"]]
    assert len(set(link_ids)) == len(link_ids)
    for link in document["links"]:
        assert "name" not in link
        assert isinstance(link["mtu"], int)
        if link["type"] == "vlan":
            assert link["vlan_link"] in link_ids
            assert "ethernet_mac_address" not in link
        else:
            assert link["ethernet_mac_address"] == link["ethernet_mac_address"].lower()
    by_mac = {
        link.get("ethernet_mac_address") or link["vlan_mac_address"]: link
        for link in document["links"]
        if link["type"] != "bond"
    }
    for want in case.interfaces:
        if want.kind != "bond":
            assert by_mac[want.mac]["mtu"] == want.mtu


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_static_entries_carry_every_intended_address(case: Case) -> None:
    document = render(case)
    found = set()
    for entry in document["networks"]:
        if entry["type"].endswith("_dhcp"):
            assert set(entry) == {"id", "type", "link", "network_id"}
            continue
        mask = entry["netmask"]
        assert "/" not in mask
        if ":" in entry["ip_address"]:
            assert mask.startswith("ffff:")  # full colon form, never a prefix length
        prefix = bin(int(ipaddress.ip_address(mask))).count("1")
        found.add(f"{entry['ip_address']}/{prefix}")
    intended = {a for i in case.interfaces for a in (*i.static, *i.auto6)}
    assert found == intended


def test_link_ids_are_stable_across_renders_and_port_order() -> None:
    case = BY_NAME["bond_vlan"]
    first = render(case)
    shuffled = Topology(**{k: dict(reversed(case.topology.collection(k).items())) for k in KINDS})
    second = network_data(shuffled, SERVER_ID)
    assert first == second
    assert [link["id"] for link in first["links"]] == [
        "tap00000012-90",
        "tap00000013-90",
        "bond0",
        "tap00000014-90",
    ]


def test_trunk_sub_ports_are_vlan_links() -> None:
    links = render(BY_NAME["trunk"])["links"]
    vlans = [link for link in links if link["type"] == "vlan"]
    assert [(v["vlan_id"], v["vlan_mac_address"], v["vlan_link"], v["vif_id"]) for v in vlans] == [
        (101, "fa:16:3e:00:10:65", "tap0000000f-90", "00000010-9000-4000-8000-000000000000"),
        (102, "fa:16:3e:00:11:66", "tap0000000f-90", "00000011-9000-4000-8000-000000000000"),
    ]


def test_bond_link_and_where_networks_attach() -> None:
    document = render(BY_NAME["bond_vlan"])
    bond = document["links"][2]
    assert bond == {
        "id": "bond0",
        "type": "bond",
        "mtu": 9000,
        "ethernet_mac_address": "fa:16:3e:00:12:01",
        "bond_links": ["tap00000012-90", "tap00000013-90"],
        "bond_mode": "802.3ad",
        "bond_miimon": 100,
        "bond_xmit_hash_policy": "layer3+4",
    }
    assert [n["link"] for n in document["networks"]] == ["bond0", "tap00000014-90"]
    assert document["links"][3]["vlan_link"] == "bond0"


@pytest.mark.parametrize("name", ["storage-bond", "bond.1", "Bond0", "verylongname", ""])
def test_a_bond_whose_name_is_no_device_name_is_bond_n(name: str) -> None:
    """Guests name the bond device after its link id; a VLAN on it appends '.200'."""
    case = BY_NAME["bond_vlan"]
    topology = case.topology.copy()
    (bond,) = topology.bonds.values()
    topology.bonds[bond.id] = replace(bond, name=name)
    document = network_data(topology, SERVER_ID)
    assert document is not None
    assert document["links"][2]["id"] == "bond0"
    assert document["links"][3]["vlan_link"] == "bond0"


def test_routes_default_first_then_host_routes_once_per_subnet() -> None:
    entries = render(BY_NAME["host_routes"])["networks"]
    assert entries[0]["routes"] == [
        {"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.13.0.1"},
        {"network": "172.16.0.0", "netmask": "255.240.0.0", "gateway": "10.13.0.254"},
        {"network": "192.168.100.0", "netmask": "255.255.255.0", "gateway": "10.13.0.253"},
    ]
    assert entries[1]["routes"] == [
        {"network": "::", "netmask": "::", "gateway": "2001:db8:13::1"},
        {"network": "2001:db8:ff::", "netmask": "ffff:ffff:ffff::", "gateway": "2001:db8:13::fe"},
    ]
    two = render(BY_NAME["two_ips_one_subnet"])["networks"]
    assert [len(n["routes"]) for n in two] == [1, 0]
    assert [n["services"] for n in two] == [[{"type": "dns", "address": "192.168.50.2"}]] * 2


def test_dhcp_subnet_gives_one_entry_per_link_and_version() -> None:
    case = BY_NAME["v4_dhcp"]
    topology = case.topology.copy()
    port = next(iter(topology.ports.values()))
    subnet_id = port.fixed_ips[0].subnet_id
    topology.ports[port.id] = replace(
        port, fixed_ips=(*port.fixed_ips, FixedIP(subnet_id, "10.30.0.11"))
    )
    document = network_data(topology, SERVER_ID)
    assert document is not None
    assert [n["type"] for n in document["networks"]] == ["ipv4_dhcp"]
    assert document["links"][0]["mtu"] == 1450  # Nova would say null here


def test_no_ports_no_document() -> None:
    topology = BY_NAME["static_v4"].topology.copy()
    topology.ports = {}
    assert network_data(topology, SERVER_ID) is None


def test_an_unknown_subnet_costs_only_that_address() -> None:
    topology = BY_NAME["static_v4"].topology.copy()
    port = next(iter(topology.ports.values()))
    topology.ports[port.id] = replace(
        port, fixed_ips=(FixedIP("gone", "10.9.9.9"), *port.fixed_ips)
    )
    document = network_data(topology, SERVER_ID)
    assert document is not None
    assert [n["ip_address"] for n in document["networks"]] == ["192.168.10.10"]


def test_two_bonds_never_share_a_link_id() -> None:
    """A bond named bond1 first, an unnamed one second (bond1 by its place): both differ."""
    case = BY_NAME["bond_vlan"]
    topology = case.topology.copy()
    (bond,) = topology.bonds.values()
    members = [topology.ports[m] for m in bond.ports]
    extra = [
        replace(port, id=f"e{i}{port.id[2:]}", mac_address=f"fa:16:3e:00:77:0{i}", seq=90 + i)
        for i, port in enumerate(members)
    ]
    topology.ports.update({port.id: port for port in extra})
    second = Bond(id="b2", ports=tuple(p.id for p in extra), name="")
    topology.bonds = {bond.id: replace(bond, name="bond1"), second.id: second}
    document = network_data(topology, SERVER_ID)
    assert document is not None
    bonds = [link for link in document["links"] if link["type"] == "bond"]
    assert [link["id"] for link in bonds] == ["bond1", "bond1-1"]
    assert bonds[1]["bond_links"] == [link_id(p.id) for p in extra]


def test_dns_union_holds_each_server_once_whatever_its_spelling() -> None:
    case = BY_NAME["v4_v6_static"]
    topology = case.topology.copy()
    v4, v6 = sorted(topology.subnets.values(), key=lambda s: s.ip_version)
    topology.subnets[v4.id] = replace(v4, dns_nameservers=("192.0.2.53", "192.0.2.53"))
    topology.subnets[v6.id] = replace(
        v6, dns_nameservers=("2001:DB8::53", "2001:db8:0::53", "192.0.2.53")
    )
    document = network_data(topology, SERVER_ID)
    assert document is not None
    assert document["services"] == [
        {"type": "dns", "address": "192.0.2.53"},
        {"type": "dns", "address": "2001:db8::53"},
    ]
    v6_entry = next(n for n in document["networks"] if n["type"] == "ipv6")
    assert v6_entry["services"] == [
        {"type": "dns", "address": "2001:db8::53"},
        {"type": "dns", "address": "192.0.2.53"},
    ]
