"""A real libvirtd for the session, a store with hand-written servers, and XML readers.

Everything in the scenario is written out (ids, MACs, addresses, creation times), so
the tests compare the domain XML against values typed here, never against our output.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import libvirt
import pytest
from lxml import etree

from guestmeta.apply import load_document, plan_apply
from guestmeta.model import Topology
from guestmeta.store import Store
from tests.libvirtd import URI, LibvirtDaemon

NS = "http://openstack.org/xmlns/libvirt/nova/1.1"
HOST = "hv-test"
T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)

NET_LAN = "4f1c0a6e-0000-4000-8000-00000000aa01"
NET_PUBLIC = "4f1c0a6e-0000-4000-8000-00000000aa02"
PORT_RUN0 = "7d1e2f30-0000-4000-8000-000000000101"
PORT_RUN1 = "7d1e2f30-0000-4000-8000-000000000102"
PORT_OFF0 = "7d1e2f30-0000-4000-8000-000000000201"
PORT_SPARE = "7d1e2f30-0000-4000-8000-000000000909"
SERVER_RUN = "5e7a9b10-0000-4000-8000-000000000001"
SERVER_OFF = "5e7a9b10-0000-4000-8000-000000000002"
FIP = "9a8b7c6d-0000-4000-8000-0000000000f1"

SCENARIO = f"""
networks:
  - {{id: {NET_LAN}, name: lan, mtu: 1500}}
  - {{id: {NET_PUBLIC}, name: public, "router:external": true}}
subnets:
  - {{name: lan-v4, network_id: lan, cidr: 192.168.10.0/24, gateway_ip: 192.168.10.1}}
  - name: lan-v6
    network_id: lan
    ip_version: 6
    cidr: "2001:db8:10::/64"
    gateway_ip: "2001:db8:10::1"
  - {{name: public-v4, network_id: public, cidr: 203.0.113.0/24, gateway_ip: 203.0.113.1}}
ports:
  - id: {PORT_RUN0}
    name: run-eth0
    network_id: lan
    mac_address: "fa:16:3e:00:01:01"
    fixed_ips:
      - {{subnet_id: lan-v4, ip_address: 192.168.10.11}}
      - {{subnet_id: lan-v6, ip_address: "2001:db8:10::11"}}
  - id: {PORT_RUN1}
    name: run-eth1
    network_id: lan
    mac_address: "fa:16:3e:00:01:02"
    fixed_ips: [{{subnet_id: lan-v4, ip_address: 192.168.10.12}}]
  - id: {PORT_OFF0}
    name: off-eth0
    network_id: lan
    mac_address: "fa:16:3e:00:02:01"
    fixed_ips: [{{subnet_id: lan-v4, ip_address: 192.168.10.21}}]
  - id: {PORT_SPARE}
    name: spare
    network_id: lan
    mac_address: "fa:16:3e:00:09:09"
    fixed_ips: [{{subnet_id: lan-v4, ip_address: 192.168.10.99}}]
servers:
  - id: {SERVER_RUN}
    name: run
    "OS-EXT-SRV-ATTR:instance_name": gmtest-run
    "OS-EXT-SRV-ATTR:host": {HOST}
    created: "2025-01-02T03:04:05Z"
    tenant_id: 0c1d2e3f4a5b4c6d8e9f0a1b2c3d4e5f
    user_id: 1f2e3d4c5b6a47989a8b7c6d5e4f3a2b
    flavor: {{original_name: m1.tiny, vcpus: 1, ram: 512, disk: 1}}
    networks: [{{port: run-eth0}}]
  - id: {SERVER_OFF}
    name: "off"
    "OS-EXT-SRV-ATTR:instance_name": gmtest-off
    "OS-EXT-SRV-ATTR:host": {HOST}
    created: "2024-06-30T23:59:58Z"
    flavor: {{original_name: m1.tiny, vcpus: 1, ram: 512, disk: 1}}
    networks: [{{port: off-eth0}}]
"""

# The element of another application, which must survive every update of ours.
OTHER_NS = "http://example.org/xmlns/backup/1"
OTHER = f'<bk:policy xmlns:bk="{OTHER_NS}" schedule="daily"><bk:keep>7</bk:keep></bk:policy>'


def apply_text(store: Store, text: str) -> None:
    document = load_document("scenario.yaml", text)
    store.change(lambda current: plan_apply(current, [document], now=T0))


@pytest.fixture(scope="module")
def topology() -> Topology:
    """The scenario as the store would hold it, for tests that need no store."""
    return plan_apply(Topology(), [load_document("scenario.yaml", SCENARIO)], now=T0).topology


@pytest.fixture
def qemu(libvirtd: LibvirtDaemon) -> Iterator[Any]:
    conn = libvirt.open(URI)
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def scenario_store(tmp_path: Path) -> Iterator[Store]:
    """SQLite is enough here: the store's own tests cover PostgreSQL."""
    with Store(f"sqlite:///{tmp_path / 'guestmeta.db'}") as store:
        apply_text(store, SCENARIO)
        yield store


# -- reading what libvirt keeps ----------------------------------------------------------

Ports = list[tuple[str, list[tuple[str, str, str]]]]


def element(domain_xml: str | bytes) -> Any:
    """Our element in a domain XML (live XMLDesc, /etc file or /run domstatus file)."""
    root = etree.fromstring(domain_xml.encode() if isinstance(domain_xml, str) else domain_xml)
    found = [el for el in root.iter(f"{{{NS}}}instance")]  # the root itself included
    assert len(found) == 1, f"{len(found)} nova:instance elements"
    return found[0]


def ports_of(domain_xml: str | bytes) -> Ports:
    """[(port uuid, [(type, address, ipVersion), ...]), ...] as written in the XML."""
    el = element(domain_xml)
    return [
        (
            port.get("uuid"),
            [(ip.get("type"), ip.get("address"), ip.get("ipVersion")) for ip in port],
        )
        for port in el.find(f"{{{NS}}}ports")
    ]


def saved_file(name: str) -> bytes:
    return Path(f"/etc/libvirt/qemu/{name}.xml").read_bytes()


def live_file(name: str) -> bytes:
    return Path(f"/run/libvirt/qemu/{name}.xml").read_bytes()


def other_kept(domain_xml: str | bytes) -> bool:
    root = etree.fromstring(domain_xml.encode() if isinstance(domain_xml, str) else domain_xml)
    kept = root.findall(f".//{{{OTHER_NS}}}policy")
    return len(kept) == 1 and kept[0].get("schedule") == "daily"
