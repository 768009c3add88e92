"""Address rules, with expected values worked out by hand from the RFCs and Neutron's IPAM."""

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guestmeta.apply.allocate import Allocator, Exhausted
from guestmeta.model import AllocationPool, Subnet
from guestmeta.model.addressing import default_pool, eui64, parse_cidr, parse_mac, random_mac

ip = ipaddress.ip_address


def test_mac_is_canonicalised():
    assert parse_mac("FA-16-3E-0A-0B-0C") == "fa:16:3e:0a:0b:0c"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("01:00:5e:00:00:01", "'01:00:5e:00:00:01' is a multicast MAC address"),
        ("fa:16:3e:00:00", "'fa:16:3e:00:00' is not a MAC address (expected six hex pairs)"),
        ("fa:16:3e:00:00:zz", "'fa:16:3e:00:00:zz' is not a MAC address (expected six hex pairs)"),
        ("00:00:00:00:00:00", "'00:00:00:00:00:00' is the all-zero MAC address"),
    ],
)
def test_bad_macs(value, message):
    with pytest.raises(ValueError) as exc:
        parse_mac(value)
    assert str(exc.value) == message


def test_random_macs_have_nova_prefix_and_are_unique():
    taken = {"fa:16:3e:00:00:01"}
    macs = [random_mac(taken) for _ in range(500)]
    assert len(set(macs)) == 500
    assert all(m.startswith("fa:16:3e:") and parse_mac(m) == m for m in macs)
    assert "fa:16:3e:00:00:01" not in macs


def test_eui64_flips_the_universal_bit():
    # fa:16:3e:00:00:01 -> fa^02 = f8 -> f816:3eff:fe00:0001 (RFC 4291 appendix A)
    assert str(eui64(parse_cidr("2001:db8::/64"), "fa:16:3e:00:00:01")) == (
        "2001:db8::f816:3eff:fe00:1"
    )


def test_cidr_with_host_bits_is_refused():
    with pytest.raises(ValueError, match=r"'192\.0\.2\.1/24' has host bits set"):
        parse_cidr("192.0.2.1/24")


@pytest.mark.parametrize(
    ("cidr", "gateway", "pools"),
    [
        ("192.0.2.0/24", "192.0.2.1", [("192.0.2.2", "192.0.2.254")]),
        ("192.0.2.0/24", None, [("192.0.2.1", "192.0.2.254")]),
        ("192.0.2.0/24", "192.0.2.100",
         [("192.0.2.1", "192.0.2.99"), ("192.0.2.101", "192.0.2.254")]),
        ("192.0.2.0/31", None, [("192.0.2.0", "192.0.2.1")]),
        # IPv6 has no broadcast: the last address is usable (Neutron does the same).
        ("2001:db8::/126", "2001:db8::1", [("2001:db8::2", "2001:db8::3")]),
    ],
)  # fmt: skip
def test_default_pools(cidr, gateway, pools):
    got = default_pool(parse_cidr(cidr), ip(gateway) if gateway else None)
    assert [(str(a), str(b)) for a, b in got] == pools


def test_allocation_skips_gateway_and_used_and_ends_cleanly():
    subnet = Subnet("s", "n", "192.0.2.0/29", 4, gateway_ip="192.0.2.1")
    alloc = Allocator({"s": subnet})
    alloc.reserve("s", "192.0.2.3")
    got = [alloc.allocate("s", "fa:16:3e:00:00:01") for _ in range(4)]
    # .0 network, .1 gateway, .3 used, .7 broadcast
    assert got == ["192.0.2.2", "192.0.2.4", "192.0.2.5", "192.0.2.6"]
    with pytest.raises(Exhausted, match=r"subnet s \(192.0.2.0/29\) has no free address left"):
        alloc.allocate("s", "fa:16:3e:00:00:01")


def test_slaac_allocation_is_eui64():
    subnet = Subnet("s", "n", "2001:db8:1::/64", 6, ipv6_address_mode="slaac")
    alloc = Allocator({"s": subnet})
    assert alloc.allocate("s", "fa:16:3e:12:34:56") == "2001:db8:1:0:f816:3eff:fe12:3456"


@settings(max_examples=60, deadline=None)
@given(
    prefix=st.integers(min_value=24, max_value=30),
    gateway_offset=st.one_of(st.none(), st.integers(min_value=1, max_value=2)),
    used=st.sets(st.integers(min_value=0, max_value=255), max_size=40),
    pool=st.booleans(),
)
def test_allocation_property(prefix, gateway_offset, used, pool):
    net = ipaddress.ip_network(f"10.9.8.0/{prefix}")
    gateway = str(net[gateway_offset]) if gateway_offset is not None else None
    pools = (AllocationPool(str(net[1]), str(net[-2])),) if pool else ()
    subnet = Subnet("s", "n", str(net), 4, gateway_ip=gateway, allocation_pools=pools)
    alloc = Allocator({"s": subnet})
    reserved = {net[i] for i in used if i < net.num_addresses}
    for address in reserved:
        alloc.reserve("s", str(address))
    got = []
    while True:
        try:
            got.append(ip(alloc.allocate("s", "")))
        except Exhausted:
            break
    usable = set(net.hosts()) - reserved - ({ip(gateway)} if gateway else set())
    assert len(got) == len(set(got))
    assert set(got) == usable
    assert got == sorted(got)
