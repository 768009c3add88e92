"""Every topology of the matrix through Debian 12's cloud-init (22.4.2), four renderers.

The rendered files are parsed and compared with what the topology intended. Where this
cloud-init cannot express something, the test asserts what it documents instead, and
says so:

- per-network DNS is ignored: guests get the top-level union (netplan on every interface
  with a static address, ENI on ``lo``, sysconfig in resolv.conf, networkd everywhere);
- netplan renders SLAAC and both DHCPv6 modes as ``dhcp6: true`` and drops the IPv6
  routes of those subnets (the router advertisements bring them);
- sysconfig sets ``BOOTPROTO=dhcp`` for a DHCPv6-stateful subnet and writes no MAC for a
  VLAN;
- networkd writes no ``.netdev`` files, so bonds and VLANs are never created (their
  ``.network`` files exist, but no parent refers to them), and it ignores the SLAAC and
  DHCPv6 types.
"""

from __future__ import annotations

import pytest

from guestmeta.documents import network_data
from tests.consumers import cloudinit
from tests.documents import rendered
from tests.documents.conftest import Converted
from tests.documents.topologies import BY_NAME, CASES, Case, Interface

pytestmark = pytest.mark.consumers("cloud-init")

IDS = [case.name for case in CASES]


def _routes(want: Interface, *, drop_auto6: bool = False) -> set[tuple[str, str]]:
    return {
        (r.to, r.via)
        for r in want.routes
        if not (drop_auto6 and want.ipv6_mode is not None and ":" in r.via)
    }


def _names(case: Case) -> set[str]:
    return {i.name for i in case.interfaces}


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_netplan(case: Case, converted: Converted) -> None:
    seen = rendered.netplan(converted[case.name, "netplan"])
    assert set(seen) == _names(case)
    for want in case.interfaces:
        got = seen[want.name]
        assert got.static == set(want.static), want.name
        assert got.mtu == want.mtu, want.name
        assert got.dhcp4 is want.dhcp4, want.name
        assert got.dhcp6 is (want.ipv6_mode is not None), want.name
        if want.ipv6_mode == "dhcpv6-stateful":
            assert got.accept_ra is True
        elif any(":" in a for a in want.static):
            assert got.accept_ra is False  # static IPv6: no router advertisements
        assert got.routes == _routes(want, drop_auto6=True), want.name
        assert got.dns == (list(case.dns) if want.static else []), want.name
        assert got.mac == want.mac, want.name
        if want.kind == "ethernet":
            assert got.extra["set-name"] == want.name
        if want.kind == "vlan":
            assert (got.vlan_id, got.vlan_parent) == (want.vlan_id, want.vlan_parent)
        if want.kind == "bond":
            assert got.bond_members == list(want.bond_members)
            assert got.bond_params == {
                "mode": want.bond_mode,
                "mii-monitor-interval": str(want.bond_miimon),
                "transmit-hash-policy": want.bond_hash_policy,
            }


ENI_V6_METHOD = {"slaac": "auto", "dhcpv6-stateless": "auto", "dhcpv6-stateful": "dhcp"}


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_eni(case: Case, converted: Converted) -> None:
    seen, global_dns = rendered.eni(converted[case.name, "eni"])
    assert global_dns == list(case.dns)
    assert set(seen) == _names(case)
    for want in case.interfaces:
        got = seen[want.name]
        assert got.static == set(want.static), want.name
        assert got.routes == _routes(want), want.name
        assert got.mtu == want.mtu, want.name
        assert got.dhcp4 is want.dhcp4, want.name
        if want.ipv6_mode is not None:
            assert got.v6_method == ENI_V6_METHOD[want.ipv6_mode]
        elif any(":" in a for a in want.static):
            assert got.v6_method == "static"
        else:
            assert got.v6_method is None
        assert got.dns == []  # on lo, checked above
        assert got.mac == want.mac, want.name
        assert not got.extra, got.extra  # every post-up line was a route we understood
        if want.kind == "vlan":
            assert (got.vlan_id, got.vlan_parent) == (want.vlan_id, want.vlan_parent)
        if want.kind == "bond":
            assert got.bond_members == list(want.bond_members)
            assert got.bond_params == {
                "bond-slaves": "none",
                "bond_mode": want.bond_mode,
                "bond_miimon": str(want.bond_miimon),
                "bond_xmit_hash_policy": want.bond_hash_policy,
            }


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_sysconfig(case: Case, converted: Converted) -> None:
    seen, dns = rendered.sysconfig(converted[case.name, "sysconfig"])
    assert dns == list(case.dns)
    assert set(seen) == _names(case)
    for want in case.interfaces:
        got = seen[want.name]
        assert got.static == set(want.static), want.name
        assert got.routes == _routes(want), want.name
        assert got.mtu == want.mtu, want.name
        # cloud-init 22.4.2 turns on DHCP for the whole interface on a stateful subnet.
        assert got.dhcp4 is (want.dhcp4 or want.ipv6_mode == "dhcpv6-stateful"), want.name
        assert got.dhcp6 is (want.ipv6_mode in ("dhcpv6-stateful", "dhcpv6-stateless"))
        autoconf = got.extra.get("IPV6_AUTOCONF")
        if want.ipv6_mode in ("slaac", "dhcpv6-stateless"):
            assert autoconf == "yes"
        elif want.static and any(":" in a for a in want.static):
            assert autoconf == "no"
        if want.ipv6_mode == "dhcpv6-stateless":
            assert got.extra["DHCPV6C_OPTIONS"] == "-S"
        if want.kind == "vlan":
            assert got.mac is None  # 22.4.2's sysconfig writes no MAC for a VLAN
            assert (got.vlan_id, got.vlan_parent) == (want.vlan_id, want.vlan_parent)
        else:
            assert got.mac == want.mac, want.name
        if want.kind == "bond":
            assert got.bond_members == list(want.bond_members)
            assert got.bond_params == {
                "mode": want.bond_mode,
                "miimon": str(want.bond_miimon),
                "xmit_hash_policy": want.bond_hash_policy,
            }


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_networkd(case: Case, converted: Converted) -> None:
    seen, netdevs = rendered.networkd(converted[case.name, "networkd"])
    # 22.4.2 writes no .netdev: a bond or VLAN is described but never created.
    assert netdevs == []
    assert set(seen) == _names(case)
    for want in case.interfaces:
        got = seen[want.name]
        assert got.static == set(want.static), want.name
        assert got.routes == _routes(want), want.name
        assert got.mtu == want.mtu, want.name
        assert got.dhcp4 is want.dhcp4, want.name
        assert got.dhcp6 is False  # SLAAC and DHCPv6 types are ignored by this renderer
        assert got.dns == list(case.dns), want.name
        assert got.mac == want.mac, want.name
        assert "VLAN" not in got.extra and "Bond" not in got.extra


@pytest.mark.parametrize("output", ["netplan", "sysconfig"])
def test_batch_writes_what_the_command_writes(output: str, converted: Converted) -> None:
    """The matrix uses one interpreter for speed; ``cloud-init devel net-convert`` agrees."""
    case = BY_NAME["trunk"]
    document = network_data(case.topology, case.server_id)
    assert document is not None
    assert cloudinit.net_convert(document, case.macs, output) == converted[case.name, output]


def test_unknown_mac_is_an_error() -> None:
    case = BY_NAME["static_v4"]
    document = network_data(case.topology, case.server_id)
    assert document is not None
    with pytest.raises(cloudinit.CloudInitError):
        cloudinit.net_convert(document, {"eth0": "fa:16:3e:ff:ff:ff"}, "netplan")
