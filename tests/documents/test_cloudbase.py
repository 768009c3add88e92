"""Every topology of the matrix through cloudbase-init's (1.1.9) network_data parser.

cloudbase-init (Windows guests) turns network_data.json into links, networks and name
servers, which its NetworkConfigPlugin applies to the adapters it finds by MAC. The tests
compare that parse with what each topology intended.

What it cannot express, read from its source and asserted as such below:

- it keeps only static networks (``ipv4``, ``ipv6``): ``ipv4_dhcp``, ``ipv6_slaac`` and
  both DHCPv6 types are dropped, with their routes and servers, and left to Windows' own
  DHCP client and router discovery;
- a bond keeps its members, mode and hash policy, but not ``bond_miimon`` (its model has
  no field for it) and gets no LACP rate;
- links are named by their id, not by the guest's NIC names (the plugin matches MACs).
"""

from __future__ import annotations

from typing import Any

import pytest

from guestmeta.documents import network_data
from tests.consumers import ConsumerError
from tests.consumers.cloudbase import parse_network_data, parse_network_data_many
from tests.documents.topologies import BY_NAME, CASES, Case, Interface

pytestmark = pytest.mark.consumers("cloudbase-init")

IDS = [case.name for case in CASES]
LINK_TYPES = {"ethernet": "physical", "vlan": "vlan", "bond": "bond"}
Parsed = dict[str, dict[str, Any]]


def _document(case: Case) -> dict[str, Any]:
    document = network_data(case.topology, case.server_id)
    assert document is not None
    return document


@pytest.fixture(scope="module")
def parsed() -> Parsed:
    """cloudbase-init's parse of every topology, from one interpreter."""
    results = parse_network_data_many([_document(case) for case in CASES])
    out: Parsed = {}
    for case, result in zip(CASES, results, strict=True):
        if isinstance(result, ConsumerError):
            raise result
        out[case.name] = result
    return out


def _link_for(links: list[dict[str, Any]], want: Interface) -> dict[str, Any]:
    """The one link of the interface's kind carrying its MAC."""
    (link,) = [
        link
        for link in links
        if link["type"] == LINK_TYPES[want.kind] and link["mac_address"] == want.mac
    ]
    return link


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_cloudbase(case: Case, parsed: Parsed) -> None:
    details = parsed[case.name]
    links = details["links"]
    assert len(links) == len(case.interfaces)
    by_name = {want.name: _link_for(links, want) for want in case.interfaces}
    names = {link["id"]: name for name, link in by_name.items()}
    networks = details["networks"]
    assert {net["link"] for net in networks} <= set(names)
    for want in case.interfaces:
        link = by_name[want.name]
        assert link["enabled"] is True
        assert link["mtu"] == want.mtu, want.name
        if want.kind == "vlan":
            assert (link["vlan_id"], names[link["vlan_link"]]) == (want.vlan_id, want.vlan_parent)
        else:
            assert (link["vlan_id"], link["vlan_link"]) == (None, None)
        if want.kind == "bond":
            assert [names[m] for m in link["bond"]["members"]] == list(want.bond_members)
            assert link["bond"]["type"] == want.bond_mode
            assert link["bond"]["lb_algorithm"] == want.bond_hash_policy
            # Neither miimon nor a LACP rate: the model has no field for the one, and
            # the format none for the other.
            assert set(link["bond"]) == {"members", "type", "lb_algorithm", "lacp_rate"}
            assert link["bond"]["lacp_rate"] is None
        else:
            assert link["bond"] is None
        mine = [net for net in networks if net["link"] == link["id"]]
        # Only the static addresses: DHCP, SLAAC and DHCPv6 entries are dropped, so a
        # DHCP interface has no network at all and a SLAAC one keeps only its IPv4.
        assert [net["address_cidr"] for net in mine] == list(want.static), want.name
        routes = {(r["network_cidr"], r["gateway"]) for net in mine for r in net["routes"]}
        dropped_v6 = want.ipv6_mode is not None
        intended = {(r.to, r.via) for r in want.routes if not (dropped_v6 and ":" in r.via)}
        assert routes == intended, want.name
        servers = [a for net in mine for a in net["dns_nameservers"]]
        assert list(dict.fromkeys(servers)) == (list(want.dns) if want.static else [])
    expected_services = [{"addresses": list(case.dns), "search": None}] if case.dns else []
    assert details["services"] == expected_services


def test_batch_parses_what_one_run_parses(parsed: Parsed) -> None:
    """The matrix uses one cloudbase-init interpreter for speed; a run of its own agrees."""
    case = BY_NAME["bond_vlan"]
    assert parse_network_data(_document(case)) == parsed[case.name]


def test_batch_keeps_each_failure_to_its_document() -> None:
    # A bond mode cloudbase-init does not know fails that document only.
    good = _document(BY_NAME["static_v4"])
    bad = _document(BY_NAME["bond_vlan"])
    (bond,) = [link for link in bad["links"] if link["type"] == "bond"]
    bond["bond_mode"] = "no-such-mode"
    first, second = parse_network_data_many([bad, good])
    assert isinstance(first, ConsumerError)
    assert "Unsupported bond mode: no-such-mode" in first.stderr
    assert not isinstance(second, ConsumerError)
    assert [net["address_cidr"] for net in second["networks"]] == ["192.168.10.10/24"]
