"""The ``<nova:instance>`` element: its exact shape, trunks and floating IPs, and Nova's view.

The expected XML below is written out by hand from docs/formats.md §1 (child order,
attribute order, ``creationTime`` format); Nova's own config classes, run in the
consumers' environment, judge that our element means what Nova's means.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from lxml import etree

from guestmeta.apply import load_document, plan_apply
from guestmeta.domainxml import (
    IP,
    NS,
    NS_1_0,
    PortIPs,
    canonical,
    desired,
    differences,
    from_xml,
    to_xml,
)
from guestmeta.model import Topology
from tests.libvirt.conftest import T0

IMAGE = "c0ffee00-0000-4000-8000-000000000001"
PARENT = "aa000000-0000-4000-8000-000000000001"
CHILD = "aa000000-0000-4000-8000-000000000002"
CHILD_100 = "aa000000-0000-4000-8000-000000000003"
SERVER = "bb000000-0000-4000-8000-000000000001"
TEXT = f"""
networks:
  - {{name: lan}}
  - {{name: vlan10}}
  - {{name: vlan100}}
  - {{name: public, "router:external": true}}
subnets:
  - {{name: lan-v4, network_id: lan, cidr: 10.0.0.0/24, gateway_ip: 10.0.0.1}}
  - {{name: lan-v6, network_id: lan, ip_version: 6, cidr: "fd00::/64", gateway_ip: "fd00::1"}}
  - {{name: v10, network_id: vlan10, cidr: 10.10.0.0/24, gateway_ip: 10.10.0.1}}
  - {{name: v100, network_id: vlan100, cidr: 10.100.0.0/24, gateway_ip: 10.100.0.1}}
  - {{name: public-v4, network_id: public, cidr: 198.51.100.0/24, gateway_ip: 198.51.100.1}}
ports:
  - id: {CHILD_100}
    name: child100
    network_id: vlan100
    fixed_ips: [{{subnet_id: v100, ip_address: 10.100.0.5}}]
  - id: {CHILD}
    name: child
    network_id: vlan10
    fixed_ips: [{{subnet_id: v10, ip_address: 10.10.0.5}}]
  - id: {PARENT}
    name: parent
    network_id: lan
    fixed_ips:
      - {{subnet_id: lan-v4, ip_address: 10.0.0.5}}
      - {{subnet_id: lan-v6, ip_address: "fd00::5"}}
    trunk_details:
      sub_ports:
        - {{port_id: child100, segmentation_type: vlan, segmentation_id: 100}}
        - {{port_id: child, segmentation_type: vlan, segmentation_id: 10}}
floatingips:
  - {{floating_ip_address: 198.51.100.7, floating_network_id: public, port_id: parent}}
servers:
  - id: {SERVER}
    name: web
    "OS-EXT-SRV-ATTR:instance_name": instance-0000002a
    "OS-EXT-SRV-ATTR:host": kvm1
    created: "2024-02-29T12:00:00+02:00"
    tenant_id: 0c1d2e3f4a5b4c6d8e9f0a1b2c3d4e5f
    user_id: 1f2e3d4c5b6a47989a8b7c6d5e4f3a2b
    image: {{id: {IMAGE}}}
    flavor:
      id: "2"
      original_name: m1.small
      vcpus: 2
      ram: 2048
      disk: 20
      swap: 512
      extra_specs: {{"hw:cpu_policy": dedicated}}
    networks: [{{port: parent}}]
"""

EXPECTED = f"""<nova:instance xmlns:nova="{NS}">
  <nova:package version="2025.1"/>
  <nova:name>web</nova:name>
  <nova:creationTime>2024-02-29 10:00:00</nova:creationTime>
  <nova:flavor name="m1.small" id="2">
    <nova:memory>2048</nova:memory>
    <nova:disk>20</nova:disk>
    <nova:swap>512</nova:swap>
    <nova:ephemeral>0</nova:ephemeral>
    <nova:vcpus>2</nova:vcpus>
    <nova:extraSpecs>
      <nova:extraSpec name="hw:cpu_policy">dedicated</nova:extraSpec>
    </nova:extraSpecs>
  </nova:flavor>
  <nova:image uuid="{IMAGE}"/>
  <nova:owner>
    <nova:user uuid="1f2e3d4c5b6a47989a8b7c6d5e4f3a2b"></nova:user>
    <nova:project uuid="0c1d2e3f4a5b4c6d8e9f0a1b2c3d4e5f"></nova:project>
  </nova:owner>
  <nova:root type="image" uuid="{IMAGE}"/>
  <nova:ports>
    <nova:port uuid="{PARENT}">
      <nova:ip type="fixed" address="10.0.0.5" ipVersion="4"/>
      <nova:ip type="fixed" address="fd00::5" ipVersion="6"/>
      <nova:ip type="floating" address="198.51.100.7" ipVersion="4"/>
    </nova:port>
    <nova:port uuid="{CHILD}">
      <nova:ip type="fixed" address="10.10.0.5" ipVersion="4"/>
    </nova:port>
    <nova:port uuid="{CHILD_100}">
      <nova:ip type="fixed" address="10.100.0.5" ipVersion="4"/>
    </nova:port>
  </nova:ports>
</nova:instance>
"""


@pytest.fixture(scope="module")
def topology() -> Topology:
    return plan_apply(Topology(), [load_document("web.yaml", TEXT)], now=T0).topology


def test_element_has_nova_shape_with_floating_ips_and_trunk_sub_ports(
    topology: Topology,
) -> None:
    xml = to_xml(desired(topology, SERVER, package="2025.1"))
    assert canonical(xml) == canonical(EXPECTED)
    # Attribute order matters to naive readers: type, address, ipVersion.
    assert '<nova:ip type="floating" address="198.51.100.7" ipVersion="4"/>' in xml


def test_no_ports_gives_an_empty_ports_element(topology: Topology) -> None:
    bare = topology.copy()
    bare.ports = {k: p for k, p in topology.ports.items() if p.device_id != SERVER}
    bare.floatingips = {}
    xml = to_xml(desired(bare, SERVER, package="1"))
    assert etree.fromstring(xml).find(f"{{{NS}}}ports") is not None
    assert "<nova:ports/>" in xml


def test_reader_accepts_both_namespaces_and_libvirts_unqualified_form() -> None:
    for ns in (NS, NS_1_0):
        meta = from_xml(
            f'<n:instance xmlns:n="{ns}"><n:name>a</n:name><n:ports><n:port uuid="p">'
            '<n:ip type="fixed" address="10.0.0.9" ipVersion="4"/></n:port></n:ports>'
            "</n:instance>"
        )
        assert meta.namespace == ns
        assert meta.ports == (PortIPs("p", (IP("fixed", "10.0.0.9", 4),)),)
    bare = from_xml("<instance><name>b</name></instance>", NS)
    assert bare.name == "b"


def test_differences_name_ports_added_removed_and_renumbered(topology: Topology) -> None:
    new = desired(topology, SERVER, package="1")
    old_ports = (PortIPs(PARENT, (IP("fixed", "10.0.0.4", 4),)), PortIPs("gone", ()))
    old = replace(new, ports=old_ports, name="old-name")
    assert differences(old, new) == [
        "name",
        f"port {PARENT} ips 10.0.0.5 fd00::5 198.51.100.7",
        f"+port {CHILD} 10.10.0.5",
        f"+port {CHILD_100} 10.100.0.5",
        "-port gone",
    ]


def nova_values(ports: list[dict[str, Any]]) -> dict[str, Any]:
    """The server above, typed out again as Nova's driver would have it."""
    return {
        "name": "web",
        "creation_time": "2024-02-29 10:00:00",
        "package": "2025.1",
        "flavor": {
            "name": "m1.small",
            "id": "2",
            "memory": 2048,
            "disk": 20,
            "swap": 512,
            "ephemeral": 0,
            "vcpus": 2,
            "extra_specs": {"hw:cpu_policy": "dedicated"},
        },
        "image": {},
        "owner": {
            "user_uuid": "1f2e3d4c5b6a47989a8b7c6d5e4f3a2b",
            "user_name": "",
            "project_uuid": "0c1d2e3f4a5b4c6d8e9f0a1b2c3d4e5f",
            "project_name": "",
        },
        "root": {"type": "image", "uuid": IMAGE},
        "ports": ports,
    }


@pytest.mark.consumers("nova")
def test_nova_reads_the_same_values_from_its_element_as_from_ours(topology: Topology) -> None:
    from tests.consumers.nova import instance_metadata_xml

    # Nova drops floating IPs and knows no trunk sub-ports: compare on what it handles.
    plain = topology.copy()
    plain.floatingips = {}
    for port_id in (CHILD, CHILD_100):
        del plain.ports[port_id]
    plain.ports[PARENT] = replace(plain.ports[PARENT], trunk=None)
    ours = from_xml(to_xml(desired(plain, SERVER, package="2025.1")))
    ports = [
        {
            "uuid": PARENT,
            "ips": [
                {"type": "fixed", "address": "10.0.0.5", "ip_version": 4},
                {"type": "fixed", "address": "fd00::5", "ip_version": 6},
            ],
        }
    ]
    nova = from_xml(instance_metadata_xml(nova_values(ports)))
    assert ours == nova
    nova_old = from_xml(instance_metadata_xml(nova_values([]), namespace="1.0"))
    assert nova_old.namespace == NS_1_0
    assert nova_old.name == ours.name and nova_old.flavor == ours.flavor
