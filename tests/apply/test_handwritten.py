"""Hand-written files: ids, MACs and addresses left out, everything referred to by name.

Expected addresses are worked out by hand from the CIDR, the gateway and the pools, the way
Neutron's IPAM hands them out: lowest free address first, never the network, broadcast or
gateway address.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from guestmeta.apply import ApplyError, Change, load_document, plan_apply
from guestmeta.apply.source import Document
from guestmeta.model import FixedIP, Topology
from guestmeta.store import Result, Store
from tests.conftest import DATA

MINIMAL = DATA / "minimal.yaml"
T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
MAC_RE = re.compile(r"^fa:16:3e(:[0-9a-f]{2}){3}$")


def minimal() -> Document:
    return load_document(str(MINIMAL))


def doc(text: str, name: str = "extra.yaml") -> Document:
    return load_document(name, text)


def apply(store: Store, docs: list[Document], *, prune: bool = False, now: datetime = T0) -> Result:
    return store.change(lambda current: plan_apply(current, docs, prune=prune, now=now))


def named(items: dict[str, Any], name: str) -> Any:
    found = [item for item in items.values() if item.name == name]
    assert len(found) == 1, f"{len(found)} items named {name!r}"
    return found[0]


def eui64_by_hand(prefix64: str, mac: str) -> str:
    """RFC 4291 appendix A written out: flip the universal/local bit, ff:fe in the middle."""
    o = [int(part, 16) for part in mac.split(":")]
    o[0] ^= 0x02
    iid = f"{o[0]:02x}{o[1]:02x}:{o[2]:02x}ff:fe{o[3]:02x}:{o[4]:02x}{o[5]:02x}"
    return str(ipaddress.IPv6Address(f"{prefix64}:{iid}"))


def addresses(topology: Topology, port_name: str) -> list[str]:
    return [ip.ip_address for ip in named(topology.ports, port_name).fixed_ips]


def ports_yaml(network: str, names: list[str], extra: str = "") -> str:
    lines = ["ports:"]
    for name in names:
        lines += [f"  - name: {name}", f"    network_id: {network}"]
    return extra + "\n".join(lines) + "\n"


# -- the minimal file --------------------------------------------------------------------


def test_minimal_file_gets_ids_a_mac_and_addresses(store: Store) -> None:
    result = apply(store, [minimal()])
    assert result.revision == 1
    topology = store.load()
    assert [len(topology.collection(k)) for k in ("networks", "subnets", "ports", "servers")] == [
        1,
        2,
        1,
        1,
    ]
    for kind in ("networks", "subnets", "ports", "servers"):
        for ident in topology.collection(kind):
            assert str(uuid.UUID(ident)) == ident, f"{kind} id {ident!r} is not a UUID"

    lan = named(topology.networks, "lan")
    v4 = named(topology.subnets, "lan-v4")
    v6 = named(topology.subnets, "lan-v6")
    assert v4.network_id == lan.id and v6.network_id == lan.id
    port = named(topology.ports, "vm1-eth0")
    server = named(topology.servers, "vm1")
    assert port.network_id == lan.id
    assert MAC_RE.match(port.mac_address), port.mac_address
    # 192.168.10.0 is the network address and .1 the gateway: the first port gets .2.
    # The SLAAC subnet gives the EUI-64 address of the generated MAC.
    assert sorted(port.fixed_ips, key=lambda ip: ip.subnet_id != v4.id) == [
        FixedIP(v4.id, "192.168.10.2"),
        FixedIP(v6.id, eui64_by_hand("2001:db8:10:0", port.mac_address)),
    ]
    # The server names the port, so the port is plugged into it.
    assert port.device_id == server.id
    assert port.device_owner == "compute:nova"
    assert topology.index.ports(server.id) == (port,)
    assert (server.domain_name, server.hostname, server.host) == ("vm1", "vm1", "kvm1")
    assert server.created == T0
    assert server.metadata == {"role": "test"}
    assert (server.flavor.name, server.flavor.vcpus, server.flavor.ram, server.flavor.disk) == (
        "m1.small",
        1,
        2048,
        20,
    )


def test_slaac_address_of_a_given_mac(store: Store) -> None:
    text = ports_yaml("lan", []) + (
        "  - name: fixed-mac\n    network_id: lan\n    mac_address: FA:16:3E:12:34:56\n"
    )
    apply(store, [minimal(), doc(text)])
    port = named(store.load().ports, "fixed-mac")
    assert port.mac_address == "fa:16:3e:12:34:56"
    # By hand: fa = 1111 1010, flipping bit 0x02 gives 1111 1000 = f8;
    # fa:16:3e:12:34:56 -> f816:3eff:fe12:3456 after 2001:db8:10:0 (the /64).
    # v4: both ports are new and get addresses in file order, minimal.yaml's vm1-eth0
    # first (.2), so this one gets 192.168.10.3.
    assert addresses(store.load(), "fixed-mac") == [
        "192.168.10.3",
        "2001:db8:10:0:f816:3eff:fe12:3456",
    ]


def test_applying_the_minimal_file_again_changes_nothing(store: Store) -> None:
    apply(store, [minimal()])
    before = store.load()
    again = apply(store, [minimal()], now=T0 + timedelta(days=1))
    assert again.changes == []
    assert again.revision == 1
    assert store.revision() == 1
    after = store.load()
    assert after == before
    assert named(after.servers, "vm1").created == T0


def test_changing_one_field_updates_only_that_item(store: Store) -> None:
    apply(store, [minimal()])
    before = store.load()
    lan = named(before.networks, "lan")
    text = MINIMAL.read_text().replace("mtu: 1500", "mtu: 1400")
    assert text != MINIMAL.read_text()
    result = apply(store, [doc(text, "minimal.yaml")])
    assert result.changes == [Change("networks", lan.id, "update")]
    assert result.revision == 2
    after = store.load()
    assert after.networks[lan.id].mtu == 1400
    for kind in ("subnets", "ports", "servers"):
        assert after.collection(kind) == before.collection(kind)

    server = named(after.servers, "vm1")
    text = text.replace("role: test", "role: web")
    result = apply(store, [doc(text, "minimal.yaml")])
    assert result.changes == [Change("servers", server.id, "update")]
    assert store.load().servers[server.id].metadata == {"role": "web"}
    assert store.revision() == 3


EXTRA = """
keypairs:
  - name: ops
    public_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBpX2u2aA5h0Vg9hc1m7o2R2bJmX0kq4i2cYv2m3kQ8d ops
ports:
  - name: vm2-eth0
    network_id: lan
servers:
  - name: vm2
    networks: [{port: vm2-eth0}]
"""


def test_without_prune_items_left_out_stay(store: Store) -> None:
    apply(store, [minimal(), doc(EXTRA)])
    before = store.load()
    assert len(before.ports) == 2 and len(before.servers) == 2
    result = apply(store, [minimal()])
    assert result.changes == []
    assert store.load() == before


def test_prune_removes_left_out_items_of_the_listed_kinds_only(store: Store) -> None:
    apply(store, [minimal(), doc(EXTRA)])
    before = store.load()
    vm2 = named(before.servers, "vm2")
    vm2_port = named(before.ports, "vm2-eth0")
    result = apply(store, [minimal()], prune=True)
    assert sorted(result.changes, key=lambda c: c.kind) == [
        Change("ports", vm2_port.id, "delete"),
        Change("servers", vm2.id, "delete"),
    ]
    after = store.load()
    assert sorted(p.name for p in after.ports.values()) == ["vm1-eth0"]
    assert sorted(s.name for s in after.servers.values()) == ["vm1"]
    # minimal.yaml lists no keypairs, so the stored keypair is not its business.
    assert list(after.keypairs) == ["ops"]
    # What minimal.yaml lists is untouched, generated values included.
    assert named(after.ports, "vm1-eth0") == named(before.ports, "vm1-eth0")


# -- address allocation ------------------------------------------------------------------

ALLOC_NET = """
networks:
  - name: alloc
subnets:
  - name: alloc-v4
    network_id: alloc
    cidr: 10.9.0.0/29
    gateway_ip: 10.9.0.3
"""


def test_allocation_goes_in_order_skipping_network_gateway_and_broadcast(store: Store) -> None:
    # 10.9.0.0/29 is .0-.7: .0 is the network, .7 the broadcast, .3 the gateway,
    # so five ports get .1 .2 .4 .5 .6 in file order.
    names = [f"p{i}" for i in range(1, 6)]
    apply(store, [doc(ports_yaml("alloc", names, ALLOC_NET))])
    topology = store.load()
    assert [addresses(topology, n) for n in names] == [
        ["10.9.0.1"],
        ["10.9.0.2"],
        ["10.9.0.4"],
        ["10.9.0.5"],
        ["10.9.0.6"],
    ]


def test_an_exhausted_subnet_is_an_error_and_nothing_is_stored(store: Store) -> None:
    names = [f"p{i}" for i in range(1, 7)]
    with pytest.raises(ApplyError) as caught:
        apply(store, [doc(ports_yaml("alloc", names, ALLOC_NET))])
    lines = caught.value.lines
    assert len(lines) == 1
    assert lines[0].startswith("extra.yaml: ports[5] (p6): fixed_ips")
    assert "no free address" in lines[0]
    assert store.revision() == 0
    assert store.load() == Topology()


def test_an_address_given_by_a_later_port_is_not_handed_out(store: Store) -> None:
    text = ALLOC_NET + (
        "ports:\n"
        "  - name: first\n    network_id: alloc\n"
        "  - name: second\n    network_id: alloc\n"
        "    fixed_ips: [{subnet_id: alloc-v4, ip_address: 10.9.0.1}]\n"
    )
    apply(store, [doc(text)])
    topology = store.load()
    assert addresses(topology, "second") == ["10.9.0.1"]
    assert addresses(topology, "first") == ["10.9.0.2"]


def test_a_later_apply_allocates_the_next_free_address(store: Store) -> None:
    apply(store, [minimal()])
    extra = ports_yaml("lan", ["vm1-eth1"])
    apply(store, [minimal(), doc(extra)])
    topology = store.load()
    assert addresses(topology, "vm1-eth0")[0] == "192.168.10.2"
    assert addresses(topology, "vm1-eth1")[0] == "192.168.10.3"


def test_explicit_allocation_pools_are_used(store: Store) -> None:
    text = """
networks: [{name: pooled}]
subnets:
  - name: pooled-v4
    network_id: pooled
    cidr: 172.20.0.0/24
    gateway_ip: 172.20.0.1
    allocation_pools: [{start: 172.20.0.100, end: 172.20.0.101}]
"""
    apply(store, [doc(ports_yaml("pooled", ["a", "b"], text))])
    topology = store.load()
    assert addresses(topology, "a") == ["172.20.0.100"]
    assert addresses(topology, "b") == ["172.20.0.101"]


def test_dhcpv6_stateful_addresses_come_from_the_pool(store: Store) -> None:
    text = """
networks: [{name: v6only}]
subnets:
  - name: v6only-dhcp
    network_id: v6only
    ip_version: 6
    cidr: 2001:db8:30::/64
    gateway_ip: 2001:db8:30::1
    ipv6_address_mode: dhcpv6-stateful
    ipv6_ra_mode: dhcpv6-stateful
"""
    apply(store, [doc(ports_yaml("v6only", ["a", "b"], text))])
    topology = store.load()
    # ::0 is the subnet-router anycast address and ::1 the gateway.
    assert addresses(topology, "a") == ["2001:db8:30::2"]
    assert addresses(topology, "b") == ["2001:db8:30::3"]


def test_generated_macs_are_unique_and_nova_like(store: Store) -> None:
    names = [f"n{i:02d}" for i in range(40)]
    apply(store, [minimal(), doc(ports_yaml("lan", names))])
    macs = [p.mac_address for p in store.load().ports.values()]
    assert len(macs) == 41
    assert len(set(macs)) == 41
    assert all(MAC_RE.match(mac) for mac in macs), macs


def test_a_subnet_without_gateway_ip_gets_neutrons_default_gateway(store: Store) -> None:
    # Neutron: gateway_ip left out -> the first address of the CIDR; gateway_ip: null -> none.
    text = """
networks: [{name: gw}]
subnets:
  - name: default-gw
    network_id: gw
    cidr: 10.5.0.0/24
  - name: no-gw
    network_id: gw
    cidr: 10.6.0.0/24
    gateway_ip: null
ports:
  - name: a
    network_id: gw
    fixed_ips: [{subnet_id: default-gw}, {subnet_id: no-gw}]
"""
    apply(store, [doc(text)])
    topology = store.load()
    assert named(topology.subnets, "default-gw").gateway_ip == "10.5.0.1"
    assert named(topology.subnets, "no-gw").gateway_ip is None
    assert addresses(topology, "a") == ["10.5.0.2", "10.6.0.1"]


def test_a_port_without_fixed_ips_gets_one_address_per_family_and_every_slaac(
    store: Store,
) -> None:
    text = """
networks: [{name: dual}]
subnets:
  - {name: dual-v4, network_id: dual, cidr: 10.30.0.0/24, gateway_ip: 10.30.0.1}
  - {name: dual-v4-more, network_id: dual, cidr: 10.31.0.0/24, gateway_ip: 10.31.0.1}
  - name: dual-slaac
    network_id: dual
    ip_version: 6
    cidr: 2001:db8:31::/64
    gateway_ip: 2001:db8:31::1
    ipv6_address_mode: slaac
    ipv6_ra_mode: slaac
  - name: dual-stateful
    network_id: dual
    ip_version: 6
    cidr: 2001:db8:32::/64
    gateway_ip: 2001:db8:32::1
    ipv6_address_mode: dhcpv6-stateful
    ipv6_ra_mode: dhcpv6-stateful
ports:
  - {name: a, network_id: dual, mac_address: "fa:16:3e:00:00:01"}
"""
    apply(store, [doc(text)])
    topology = store.load()
    by_subnet = {
        topology.subnets[ip.subnet_id].name: ip.ip_address
        for ip in named(topology.ports, "a").fixed_ips
    }
    # Like Neutron: the first IPv4 subnet, the first stateful IPv6 subnet, every SLAAC one.
    # EUI-64 of fa:16:3e:00:00:01: fa -> f8, so f816:3eff:fe00:0001 in 2001:db8:31::/64.
    assert by_subnet == {
        "dual-v4": "10.30.0.2",
        "dual-slaac": "2001:db8:31:0:f816:3eff:fe00:1",
        "dual-stateful": "2001:db8:32::2",
    }


def test_new_floating_ips_without_addresses_get_distinct_ones() -> None:
    text = """
networks: [{name: lan}, {name: public, router:external: true}]
subnets:
  - {name: lan-v4, network_id: lan, cidr: 192.168.1.0/24}
  - {name: pub-v4, network_id: public, cidr: 203.0.113.0/29}
ports:
  - {name: a, network_id: lan}
  - {name: b, network_id: lan}
floatingips:
  - {floating_network_id: public, port_id: a}
  - {floating_network_id: public, port_id: b}
"""
    doc = load_document("fips.yaml", text)
    plan = plan_apply(Topology(), [doc])
    ports = {p.id: p.name for p in plan.topology.ports.values()}
    got = {
        ports[f.port_id or ""]: f.floating_ip_address for f in plan.topology.floatingips.values()
    }
    # 203.0.113.0/29: .0 network, .1 the default gateway, so .2 then .3 in file order
    assert got == {"a": "203.0.113.2", "b": "203.0.113.3"}
    assert plan_apply(plan.topology, [doc]).changes == []


# -- what Nova's metadata reads beyond the network --------------------------------------

LAN = """
networks: [{name: lan}]
subnets: [{name: lan-v4, network_id: lan, cidr: 192.168.10.0/24, enable_dhcp: false}]
"""


def test_device_tag_sriov_vlan_groups_and_reservation_are_kept(store: Store) -> None:
    extra = doc(
        LAN
        + """
ports:
  - name: vm1-eth0
    network_id: lan
    tag: db
  - name: vm1-vf
    network_id: lan
    binding:vif_details: {vlan: "120", port_filter: false}
servers:
  - name: vm1
    flavor: {original_name: m1.small, vcpus: 1, ram: 2048, disk: 20}
    security_groups: [{name: web}, ssh, {name: web}]
    OS-EXT-SRV-ATTR:reservation_id: r-12345678
    networks: [{port: vm1-eth0}, {port: vm1-vf}]
"""
    )
    apply(store, [extra])
    topology = store.load()
    eth0 = named(topology.ports, "vm1-eth0")
    assert (eth0.tag, eth0.vlan) == ("db", None)
    assert named(topology.ports, "vm1-vf").vlan == 120  # Neutron writes it as a string
    server = named(topology.servers, "vm1")
    assert server.security_groups == ("web", "ssh")
    assert server.reservation_id == "r-12345678"


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ('binding:vif_details: {vlan: "x"}', "binding:vif_details.vlan: must be a VLAN id"),
        ("binding:vif_details: {vlan: 5000}", "VLAN id 5000 is outside 1-4094"),
    ],
)
def test_a_bad_sriov_vlan_is_refused(store: Store, field: str, message: str) -> None:
    bad = doc(LAN + f"ports:\n  - name: p1\n    network_id: lan\n    {field}\n")
    with pytest.raises(ApplyError) as info:
        apply(store, [bad])
    assert message in str(info.value)
    assert store.revision() == 0


def test_a_security_group_that_is_not_a_name_is_refused(store: Store) -> None:
    bad = doc("servers:\n  - name: vm1\n    security_groups: [{id: 1}]\n")
    with pytest.raises(ApplyError, match=r"security_groups\[0\]: must be a name"):
        apply(store, [bad])
