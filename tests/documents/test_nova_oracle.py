"""Nova as the oracle: its own network_data.json and ours, rendered by the same cloud-init.

For every topology of the matrix, Nova's ``get_network_metadata`` runs (in the consumers'
environment) on the ``network_info`` Nova would hold for the server, and both documents
go through Debian's cloud-init to netplan. Where Nova can express the topology (one
address per family per port, no VLAN, no bond) the two netplans must be identical: a
guest cannot tell us from Nova. Where it cannot, the test removes exactly what the
topology says Nova loses from our netplan and finds Nova's, and checks that what Nova
loses is really in ours.

Nova drops the MTU of a port whose subnet has a DHCP server (docs/formats.md §2.5). It
learns of that server from Neutron's DHCP port on the subnet, which the matrix's
topologies do not hold; the DHCP topologies are therefore also run with that port added,
as a real Neutron has it, and then differ from ours by the MTU alone.
"""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

import pytest
import yaml

from guestmeta.documents import network_data
from guestmeta.model import FixedIP, Port, Topology
from tests.consumers import ConsumerError, cloudinit, nova
from tests.documents.conftest import Converted
from tests.documents.topologies import BY_NAME, CASES, Case

pytestmark = pytest.mark.consumers("nova", "cloud-init")

NETPLAN = "etc/netplan/50-cloud-init.yaml"
HANDLED = [case for case in CASES if case.nova_handles]
LOSSY = [case for case in CASES if not case.nova_handles]
SECTIONS = ("ethernets", "bonds", "vlans")


def _dhcp_subnets(case: Case) -> list[str]:
    """Ids of the DHCP-enabled subnets of the server's ports."""
    ports = case.topology.index.ports(case.server_id)
    ids = dict.fromkeys(f.subnet_id for p in ports for f in p.fixed_ips)
    return [sid for sid in ids if case.topology.subnets[sid].enable_dhcp]


DHCP = [case for case in CASES if _dhcp_subnets(case)]


def with_dhcp_ports(case: Case) -> Topology:
    """The topology with Neutron's DHCP port (address .2 / ::2) on each DHCP subnet."""
    topology = case.topology.copy()
    for n, subnet_id in enumerate(_dhcp_subnets(case), start=1):
        subnet = topology.subnets[subnet_id]
        address = ipaddress.ip_network(subnet.cidr).network_address + 2
        port = Port(
            id=f"d4c90000-0000-4000-8000-{n:012d}",
            network_id=subnet.network_id,
            mac_address=f"fa:16:3e:dd:00:{n:02x}",
            fixed_ips=(FixedIP(subnet_id, str(address)),),
            device_id=f"dhcp-{subnet.network_id}",
            device_owner="network:dhcp",
        )
        topology.ports[port.id] = port
    return topology


Netplans = dict[tuple[str, str], dict[str, Any]]


@pytest.fixture(scope="module")
def nova_netplan() -> Netplans:
    """Nova's document for every topology (and the DHCP ones behind a DHCP port), to
    netplan: one Nova interpreter, then one cloud-init interpreter.
    """
    jobs = [(case, "as-is", case.topology) for case in CASES]
    jobs += [(case, "dhcp-port", with_dhcp_ports(case)) for case in DHCP]
    documents = nova.network_metadata_many(
        [nova.network_info(topology, case.server_id) for case, _, topology in jobs]
    )
    conversions = []
    for (case, _, _), document in zip(jobs, documents, strict=True):
        if isinstance(document, ConsumerError):
            raise document
        assert document is not None
        conversions.append((document, case.macs, "netplan"))
    results = cloudinit.net_convert_many(conversions)
    out: Netplans = {}
    for (case, variant, _), result in zip(jobs, results, strict=True):
        if isinstance(result, Exception):
            raise result
        out[case.name, variant] = yaml.safe_load(result[NETPLAN])["network"]
    return out


def ours(converted: Converted, case: Case) -> dict[str, Any]:
    network: dict[str, Any] = yaml.safe_load(converted[case.name, "netplan"][NETPLAN])["network"]
    return network


def _addresses(netplan: dict[str, Any]) -> set[str]:
    return {
        address
        for section in SECTIONS
        for body in (netplan.get(section) or {}).values()
        for address in body.get("addresses", [])
    }


def _nameservers(netplan: dict[str, Any]) -> set[str]:
    return {
        server
        for section in SECTIONS
        for body in (netplan.get(section) or {}).values()
        for server in (body.get("nameservers") or {}).get("addresses", [])
    }


def _without(netplan: dict[str, Any], addresses: set[str], nameservers: set[str]) -> dict[str, Any]:
    """The netplan with these addresses and name servers taken out everywhere."""
    out = copy.deepcopy(netplan)
    for section in SECTIONS:
        for body in (out.get(section) or {}).values():
            if "addresses" in body:
                body["addresses"] = [a for a in body["addresses"] if a not in addresses]
            if "nameservers" in body:
                kept = [s for s in body["nameservers"]["addresses"] if s not in nameservers]
                body["nameservers"]["addresses"] = kept
    return out


@pytest.mark.parametrize("case", HANDLED, ids=[c.name for c in HANDLED])
def test_same_netplan_as_nova(case: Case, converted: Converted, nova_netplan: Netplans) -> None:
    mine = ours(converted, case)
    # The topology's addresses are all there: equal netplans are not two empty ones.
    assert _addresses(mine) >= {a for i in case.interfaces for a in i.static}
    assert mine == nova_netplan[case.name, "as-is"]


@pytest.mark.parametrize("case", DHCP, ids=[c.name for c in DHCP])
def test_behind_a_dhcp_server_nova_drops_the_mtu(
    case: Case, converted: Converted, nova_netplan: Netplans
) -> None:
    # The DHCP port belongs to no server: our document does not change with it.
    assert network_data(with_dhcp_ports(case), case.server_id) == network_data(
        case.topology, case.server_id
    )
    mine = ours(converted, case)
    expected = copy.deepcopy(mine)
    for want in case.interfaces:
        assert mine["ethernets"][want.name]["mtu"] == want.mtu
        # v4_dhcp names this in its nova_differs; the DHCPv6 subnets have a DHCP server
        # too (enable_dhcp), so Nova drops their MTU by the same rule.
        del expected["ethernets"][want.name]["mtu"]
    assert nova_netplan[case.name, "dhcp-port"] == expected


def _lost(case: Case) -> tuple[set[str], set[str]]:
    """(addresses, name servers) the topology puts where Nova cannot follow."""
    addresses: set[str] = set()
    servers: set[str] = set()
    if case.name in ("two_ips_one_subnet", "two_subnets_one_family"):
        # One port, one family: Nova keeps the first address only, and the name servers
        # of the first subnet only (the second subnet's come after them).
        (eth0,) = case.interfaces
        addresses |= set(eth0.static[1:])
        first_subnet = case.topology.subnets[
            case.topology.index.ports(case.server_id)[0].fixed_ips[0].subnet_id
        ]
        servers |= set(eth0.dns) - set(first_subnet.dns_nameservers)
    else:
        # No VLAN links: every sub-port's addresses and name servers are gone.
        kept = {s for i in case.interfaces if i.kind != "vlan" for s in i.dns}
        for want in case.interfaces:
            if want.kind == "vlan":
                addresses |= set(want.static)
                servers |= set(want.dns) - kept
    return addresses, servers


@pytest.mark.parametrize("case", LOSSY, ids=[c.name for c in LOSSY])
def test_nova_loses_what_we_keep(case: Case, converted: Converted, nova_netplan: Netplans) -> None:
    mine, theirs = ours(converted, case), nova_netplan[case.name, "as-is"]
    addresses, servers = _lost(case)
    assert addresses, case.nova_differs  # every lossy topology loses an address
    assert addresses <= _addresses(mine)
    assert not addresses & _addresses(theirs)
    assert servers <= _nameservers(mine)
    assert not servers & _nameservers(theirs)
    expected = _without(mine, addresses, servers)
    if case.name == "trunk":
        assert set(mine["vlans"]) == {i.name for i in case.interfaces if i.kind == "vlan"}
        del expected["vlans"]  # each entry's addresses are taken out above
    if case.name == "bond_vlan":
        # No bond either: the first member port's address sits on its own NIC, and the
        # second member, a port without fixed IPs, is no link at all in Nova's document.
        (bond,) = [i for i in case.interfaces if i.kind == "bond"]
        first, second = bond.bond_members
        body = expected.pop("bonds")[bond.name]
        for key in ("interfaces", "parameters", "macaddress"):
            del body[key]
        expected["ethernets"][first].update(body)
        del expected["ethernets"][second]
        del expected["vlans"]
    assert theirs == expected


def test_the_matrix_names_every_loss() -> None:
    # Every topology Nova cannot handle says what Nova does to it.
    assert all(case.nova_differs for case in LOSSY)
    assert {c.name for c in LOSSY} == {
        "two_ips_one_subnet",
        "two_subnets_one_family",
        "trunk",
        "bond_vlan",
    }
    assert BY_NAME["v4_dhcp"] in DHCP
