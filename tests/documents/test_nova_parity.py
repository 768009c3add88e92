"""Parity with Nova: its metadata app and config drive against our trees, path by path.

Nova's own WSGI app is crawled from ``/`` and ``/openstack/`` (so the paths come from
Nova's listings), for every server of the OpenStack dump in tests/data/openstack, of
examples/homelab.yaml and of the hand-written topologies of the matrix, and each answer is
compared with :func:`service_tree`: the same paths, status 200, content type and bytes.
Likewise Nova's ``metadata_for_config_drive`` against :func:`document_tree`.
``random_seed`` (fresh per request in both) is blanked on both sides before comparing;
everything else is bytes.

Where we differ on purpose, the difference is named, applied to Nova's answer, and
asserted to be exactly that (and to happen exactly where the topology says it must):

- ``password``: Nova's app serves ``openstack/<v>/password`` itself (empty, text/html,
  when unset); ours lists it, and the service serves it from the store.
- ``network_data``: ours has every fixed IP, VLAN and bond links and the MTU
  (docs/operator-guide.md); here Nova's links and networks must all be in ours, with
  Nova's ``mtu`` null or ours. tests/documents/test_nova_oracle.py compares the two
  through cloud-init for every topology of the matrix.
- ``no_network_data``: without ports Nova serves ``{}``; ours leaves the file out (and
  out of the listing), which keeps cloud-init's DHCP fallback working.
- ``public_ipv4``: without a floating IPv4 Nova serves an empty ``public-ipv4``; ours
  leaves it out, as EC2 does.
- ``local_ipv4``: without a fixed IPv4 Nova serves the caller's address as
  ``local-ipv4``; ours leaves it out (behind a proxy that address is not the guest's).
- ``dedicated_cpus``: for a flavor with dedicated CPUs ours leaves ``dedicated_cpus`` out
  (the store does not know which host CPUs libvirt picked); Nova, given no NUMA
  topology here, says ``[]``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from guestmeta.apply import load_document, plan_apply
from guestmeta.documents import (
    DeviceAddress,
    DocumentOptions,
    VendorData,
    document_tree,
    service_tree,
    versions,
)
from guestmeta.model import Topology
from tests.conftest import DUMP, DUMP_FILES
from tests.consumers.nova_metadata import CALLER, Answer, nova_crawl
from tests.documents.topologies import BY_NAME, CASES, SERVER_ID

pytestmark = pytest.mark.consumers("nova")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "homelab.yaml"
SEED = re.compile(rb'"random_seed": "[A-Za-z0-9+/=]*"')
Seen = tuple[int, str | None, bytes]  # status, content type, body


def unseeded(body: bytes) -> bytes:
    return SEED.sub(b'"random_seed": ""', body)


def dump() -> Topology:
    return plan_apply(Topology(), [load_document(str(DUMP / n)) for n in DUMP_FILES]).topology


def homelab() -> Topology:
    """The example, its ports bound as Neutron binds a port on a Linux bridge: Nova only
    ever sees bound ports, and guests see the same link type from both."""
    topology = plan_apply(Topology(), [load_document(str(EXAMPLE))]).topology.copy()
    for port_id, port in list(topology.ports.items()):
        if port.vif_type is None:
            topology.ports[port_id] = replace(port, vif_type="bridge")
    return topology.copy()


def without_ports() -> Topology:
    topology = BY_NAME["two_ports"].topology.copy()
    topology.ports = {}
    return topology


DUMP_TOPOLOGY = dump()
HOMELAB = homelab()
JOBS: list[tuple[str, Topology, str]] = [
    *((f"dump:{s.name}", DUMP_TOPOLOGY, s.id) for s in DUMP_TOPOLOGY.servers.values()),
    *((f"homelab:{s.name}", HOMELAB, s.id) for s in HOMELAB.servers.values()),
    *((f"matrix:{c.name}", c.topology, c.server_id) for c in CASES),
    ("no_ports", without_ports(), SERVER_ID),
]
IDS = [name for name, _, _ in JOBS]


@pytest.fixture(scope="module")
def nova() -> dict[str, tuple[dict[str, Answer], dict[str, bytes]]]:
    answers = nova_crawl([(topology, sid) for _, topology, sid in JOBS])
    return {name: answer for (name, _, _), answer in zip(JOBS, answers, strict=True)}


# -- what the topology says must differ ----------------------------------------------------


def _ips(topology: Topology, server_id: str) -> list[str]:
    return [f.ip_address for p in topology.index.ports(server_id) for f in p.fixed_ips]


def has_v4(topology: Topology, server_id: str) -> bool:
    return any(ipaddress.ip_address(a).version == 4 for a in _ips(topology, server_id))


def has_floating_v4(topology: Topology, server_id: str) -> bool:
    return any(
        ipaddress.ip_address(fip.floating_ip_address).version == 4
        for p in topology.index.ports(server_id)
        for fip in topology.index.floating_ips(p.id)
    )


def pinned(topology: Topology, server_id: str) -> bool:
    specs = topology.servers[server_id].flavor.extra_specs
    return specs.get("hw:cpu_policy") == "dedicated"


def expected_differences(topology: Topology, server_id: str, *, http: bool) -> set[str]:
    ports = bool(topology.index.ports(server_id))
    names = {"network_data" if ports else "no_network_data"}
    if http:
        names.add("password")
    if not has_floating_v4(topology, server_id):
        names.add("public_ipv4")
    if not has_v4(topology, server_id):
        names.add("local_ipv4")
    if pinned(topology, server_id):
        names.add("dedicated_cpus")
    return names


# -- applying each difference to Nova's answer ---------------------------------------------


def network_data_within_ours(nova: bytes, ours: bytes) -> None:
    """Every link, network and DNS service of Nova's document is in ours (network ids
    aside, which count differently once every address has an entry, and a bond member's
    addresses on its bond); Nova's link MTU is ours or null."""
    theirs, mine = json.loads(nova), json.loads(ours)
    bonded = {m: b["id"] for b in mine["links"] if b["type"] == "bond" for m in b["bond_links"]}
    links = {link["id"]: link for link in mine["links"]}
    for link in theirs["links"]:
        assert link["id"] in links, link
        ours_link = links[link["id"]]
        assert {k: v for k, v in link.items() if k != "mtu"} == {
            k: v for k, v in ours_link.items() if k != "mtu"
        }
        assert link["mtu"] in (None, ours_link["mtu"])
    networks = [{k: v for k, v in n.items() if k != "id"} for n in mine["networks"]]
    for network in theirs["networks"]:
        network["link"] = bonded.get(network["link"], network["link"])
        assert {k: v for k, v in network.items() if k != "id"} in networks, network
    for service in theirs["services"]:
        assert service in mine["services"]


def _drop_line(body: bytes, line: str) -> bytes:
    lines = body.decode().split("\n")
    assert line in lines, (line, lines)
    return "\n".join(x for x in lines if x != line).encode()


def _cut(body: bytes, piece: bytes) -> bytes:
    assert body.count(piece) == 1, (piece, body[:200])
    return body.replace(piece, b"")


class Differences:
    """Nova's answers turned into ours by the deliberate differences, each recorded."""

    def __init__(self, topology: Topology, server_id: str, ours: dict[str, bytes]) -> None:
        self.topology, self.server_id, self.ours = topology, server_id, ours
        self.applied: set[str] = set()

    def applies(self, name: str) -> bool:
        return name in expected_differences(self.topology, self.server_id, http=True)

    def listing(self, path: str, body: bytes) -> bytes:
        """A listing without the entries we leave out."""
        openstack = path.startswith("openstack/")
        with_network = openstack and versions.has(path.split("/")[1], versions.NETWORK_DATA)
        if with_network and self.applies("no_network_data"):
            body = _drop_line(body, "network_data.json")
        if path.endswith("/meta-data") and not path.startswith("openstack"):
            version = path.split("/")[0]
            if self.applies("local_ipv4"):
                body = _drop_line(body, "local-ipv4")
            if self.applies("public_ipv4") and versions.has(version, "2007-01-19"):
                body = _drop_line(body, "public-ipv4")
        return body

    def file(self, path: str, body: bytes) -> bytes | None:
        """A file as ours should be, or None where we have none."""
        name = path.rsplit("/", 1)[-1]
        if name == "network_data.json":
            if self.applies("no_network_data"):
                assert body == b"{}"
                self.applied.add("no_network_data")
                return None
            network_data_within_ours(body, self.ours[path])
            self.applied.add("network_data")
            return self.ours[path] if body != self.ours[path] else body
        if name in ("public-ipv4", "local-ipv4") and not path.endswith(".json"):
            rule = name.replace("-", "_")
            if self.applies(rule):
                assert body == (b"" if rule == "public_ipv4" else CALLER.encode())
                self.applied.add(rule)
                return None
        if path.startswith("ec2/") and name == "meta-data.json":
            if self.applies("public_ipv4"):
                body = _cut(body, b'"public-ipv4": "", ')
                self.applied.add("public_ipv4")
            if self.applies("local_ipv4"):
                body = _cut(body, f'"local-ipv4": "{CALLER}", '.encode())
                self.applied.add("local_ipv4")
        if name == "meta_data.json" and self.applies("dedicated_cpus"):
            version = path.split("/")[1]
            if versions.has(version, versions.DEDICATED_CPUS):
                body = _cut(body, b', "dedicated_cpus": []')
                self.applied.add("dedicated_cpus")
        return body


def expected_http(
    answers: dict[str, Answer], differences: Differences, listings: set[str]
) -> dict[str, Seen]:
    out: dict[str, Seen] = {}
    for requested, answer in answers.items():
        path = requested.strip("/")
        assert answer.status == 200, (requested, answer.status)
        if re.fullmatch(r"openstack/[^/]+/password", path):
            assert (answer.content_type, answer.body) == ("text/html; charset=UTF-8", b"")
            differences.applied.add("password")
            continue
        seen = unseeded(answer.body)
        is_listing = path in listings
        body = differences.listing(path, seen) if is_listing else differences.file(path, seen)
        if body is not None:
            out[path] = (answer.status, answer.content_type, body)
    return out


def ours_http(
    topology: Topology,
    server_id: str,
    options: DocumentOptions | None = None,
    addresses: dict[str, DeviceAddress] | None = None,
) -> dict[str, Seen]:
    tree = service_tree(topology, server_id, options, addresses)
    return {p: (200, d.content_type, unseeded(d.body)) for p, d in tree.items()}


def listing_paths(answers: dict[str, Answer]) -> set[str]:
    """The paths Nova's crawl fetched as directories (asked for with a trailing slash)."""
    return {p.strip("/") for p in answers if p.endswith("/")}


def check_http(
    name: str,
    topology: Topology,
    server_id: str,
    answers: dict[str, Answer],
    options: DocumentOptions | None = None,
    addresses: dict[str, DeviceAddress] | None = None,
) -> None:
    ours = ours_http(topology, server_id, options, addresses)
    differences = Differences(topology, server_id, {p: b for p, (_, _, b) in ours.items()})
    expected = expected_http(answers, differences, listing_paths(answers))
    assert sorted(set(expected) ^ set(ours)) == [], name
    for path, seen in expected.items():
        assert ours[path] == seen, (name, path)
    assert differences.applied == expected_differences(topology, server_id, http=True)


def check_drive(
    name: str,
    topology: Topology,
    server_id: str,
    drive: dict[str, bytes],
    options: DocumentOptions | None = None,
    addresses: dict[str, DeviceAddress] | None = None,
) -> None:
    ours = {
        p: unseeded(b)
        for p, b in document_tree(topology, server_id, options, devices=addresses).items()
    }
    differences = Differences(topology, server_id, ours)
    expected = {}
    for path, body in drive.items():
        kept = differences.file(path, unseeded(body))
        if kept is not None:
            expected[path] = kept
    assert sorted(set(expected) ^ set(ours)) == [], name
    for path, body in expected.items():
        assert ours[path] == body, (name, path)
    assert differences.applied == expected_differences(topology, server_id, http=False)


@pytest.mark.parametrize(("name", "topology", "server_id"), JOBS, ids=IDS)
def test_service_tree_is_novas_app_but_for_the_named_differences(
    nova: dict[str, tuple[dict[str, Answer], dict[str, bytes]]],
    name: str,
    topology: Topology,
    server_id: str,
) -> None:
    check_http(name, topology, server_id, nova[name][0])


@pytest.mark.parametrize(("name", "topology", "server_id"), JOBS, ids=IDS)
def test_document_tree_is_novas_config_drive_but_for_the_named_differences(
    nova: dict[str, tuple[dict[str, Answer], dict[str, bytes]]],
    name: str,
    topology: Topology,
    server_id: str,
) -> None:
    check_drive(name, topology, server_id, nova[name][1])


def test_the_dump_covers_every_difference(
    nova: dict[str, tuple[dict[str, Answer], dict[str, bytes]]],
) -> None:
    """So that no named difference goes unchecked for want of a server that shows it."""
    seen: set[str] = set()
    for _, topology, sid in JOBS:
        seen |= expected_differences(topology, sid, http=True)
    assert seen == {
        "password",
        "network_data",
        "no_network_data",
        "public_ipv4",
        "local_ipv4",
        "dedicated_cpus",
    }


def test_options_tags_and_vlans_as_nova_has_them(tmp_path: Path) -> None:
    """No dhcp_domain, static vendor data, a tagged NIC and an SR-IOV VLAN NIC with the
    PCI addresses libvirt gave them: Nova configured and fed alike gives the same bytes."""
    (tmp_path / "vendor_data.json").write_text('{"cloud-init": "#cloud-config\\n", "é": 1}')
    options = DocumentOptions(dhcp_domain="", vendor=VendorData.from_dir(tmp_path))
    topology = BY_NAME["two_ports"].topology.copy()
    first, second = topology.index.ports(SERVER_ID)
    topology.ports[first.id] = replace(first, tag="db")
    topology.ports[second.id] = replace(second, vlan=120)
    topology = topology.copy()
    addresses = {
        first.mac_address: DeviceAddress("pci", "0000:00:03.0"),
        second.mac_address: DeviceAddress("pci", "0000:00:04.0"),
    }
    [(answers, drive)] = nova_crawl([(topology, SERVER_ID)], options, addresses)
    check_http("options", topology, SERVER_ID, answers, options, addresses)
    check_drive("options", topology, SERVER_ID, drive, options, addresses)
    meta = json.loads(answers["/openstack/latest/meta_data.json"].body)
    assert meta["hostname"] == "matrix-vm"
    assert [d["mac"] for d in meta["devices"]] == [first.mac_address, second.mac_address]
    vendor2 = json.loads(answers["/openstack/latest/vendor_data2.json"].body)
    assert vendor2 == {"static": {"cloud-init": "#cloud-config\n", "é": 1}}
