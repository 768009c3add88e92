"""Each value object checks its own fields and reports all of them at once."""

from datetime import UTC, datetime

import pytest

from guestmeta.model import Bond, InvalidItem, Network, Port, Server, Subnet, SubPort, Trunk
from guestmeta.model.server import sanitize_hostname


def errors(exc: pytest.ExceptionInfo[InvalidItem]) -> list[str]:
    return [str(e) for e in exc.value.errors]


def test_subnet_reports_every_bad_field():
    with pytest.raises(InvalidItem) as exc:
        Subnet(
            "s",
            "n",
            "10.0.0.0/24",
            4,
            gateway_ip="10.0.1.1",
            ipv6_address_mode="slaac",
            dns_nameservers=("8.8.8",),
        )
    assert errors(exc) == [
        "gateway_ip: 10.0.1.1 is outside 10.0.0.0/24",
        "ipv6_address_mode: is only valid on an IPv6 subnet",
        "dns_nameservers[0]: '8.8.8' is not an IP address",
    ]


def test_subnet_version_must_match_cidr():
    with pytest.raises(InvalidItem) as exc:
        Subnet("s", "n", "2001:db8::/64", 4)
    assert errors(exc) == ["ip_version: 4 does not match cidr 2001:db8::/64"]


def test_network_mtu_and_vlan_bounds():
    with pytest.raises(InvalidItem) as exc:
        Network("n", mtu=65536, network_type="vlan", segmentation_id=4095)
    assert errors(exc) == [
        "mtu: 65536 is outside 68-65535",
        "provider:segmentation_id: VLAN id 4095 is outside 1-4094",
    ]
    assert Network("n", mtu=68).mtu == 68


def test_trunk_vlan_bounds_and_duplicates():
    trunk = Trunk("t", (SubPort("a", 0), SubPort("b", 10), SubPort("c", 10)))
    with pytest.raises(InvalidItem) as exc:
        Port("p", "n", "fa:16:3e:00:00:01", trunk=trunk)
    assert errors(exc) == [
        "trunk_details.sub_ports[0].segmentation_id: VLAN id 0 is outside 1-4094",
        "trunk_details.sub_ports[2].segmentation_id: VLAN id 10 is used twice on this trunk",
    ]


def test_bond_needs_two_ports_and_a_known_mode():
    with pytest.raises(InvalidItem) as exc:
        Bond("b", ("p",), mode="fast")
    assert errors(exc) == [
        "ports: a bond needs two or more ports",
        "mode: 'fast' is not one of 802.3ad, balance-rr, active-backup, balance-xor, "
        "broadcast, balance-tlb, balance-alb",
    ]


def test_server_user_data_limit_is_64_kib():
    created = datetime(2026, 1, 1, tzinfo=UTC)
    Server("s", "web", "web", created, user_data=b"x" * 65536)
    with pytest.raises(InvalidItem) as exc:
        Server("s", "web", "web", created, user_data=b"x" * 65537)
    assert errors(exc) == ["OS-EXT-SRV-ATTR:user_data: 65537 bytes is over the 64 KiB limit"]


@pytest.mark.parametrize(
    ("name", "hostname"),
    [("My Server_1", "my-server-1"), ("web.example.com", "web.example.com"), ("--x--", "x"),
     ("ünïcode box", "ncode-box"), ("!!!", "server")],
)  # fmt: skip
def test_hostname_from_name(name, hostname):
    assert sanitize_hostname(name) == hostname
