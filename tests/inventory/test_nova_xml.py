"""Elements made by Nova's own config classes, in domain files as libvirtd writes them."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from guestmeta.inventory.rows import Row
from guestmeta.inventory.xmlfiles import read_domain, scan_files
from tests.consumers.nova import instance_metadata_xml
from tests.consumers.require import require_consumers
from tests.inventory.files import NS_1_0, NS_1_1, element, live, persistent, write

DOMAIN = "instance-0000002a"
UUID = "8d2f1a3c-5b6e-4f70-9a81-b2c3d4e5f607"
PROJECT = "6f0c3e1b-52a4-4c6e-9d1e-3b7a2c9f8e01"
PORT_A = "1f2e3d4c-0000-4000-8000-00000000000a"
PORT_B = "1f2e3d4c-0000-4000-8000-00000000000b"

VALUES = {
    "name": "web-1",
    "creation_time": "2024-05-06 07:08:09",
    "package": "29.0.0",
    "flavor": {
        "name": "m1.small",
        "id": "2",
        "memory": 2048,
        "disk": 20,
        "swap": 0,
        "ephemeral": 0,
        "vcpus": 1,
    },
    "image": {"container_format": "bare", "disk_format": "qcow2"},
    "owner": {
        "user_uuid": "0a1b2c3d-0000-4000-8000-0000000000aa",
        "user_name": "alice",
        "project_uuid": PROJECT,
        "project_name": "demo",
    },
    "root": {"type": "image", "uuid": "9e8d7c6b-0000-4000-8000-0000000000ff"},
}
PORTS = [
    {
        "uuid": PORT_A,
        "ips": [
            {"type": "fixed", "address": "10.0.0.5", "ip_version": 4},
            {"type": "floating", "address": "203.0.113.10", "ip_version": 4},
        ],
    },
    {"uuid": PORT_B, "ips": [{"type": "fixed", "address": "2001:db8::5", "ip_version": 6}]},
]


def expected(state: str | None) -> list[Row]:
    return [
        Row(DOMAIN, UUID, "web-1", PROJECT, PORT_A, "10.0.0.5", "fixed", 4, state),
        Row(DOMAIN, UUID, "web-1", PROJECT, PORT_A, "203.0.113.10", "floating", 4, state),
        Row(DOMAIN, UUID, "web-1", PROJECT, PORT_B, "2001:db8::5", "fixed", 6, state),
    ]


@pytest.fixture(scope="module")
def nova() -> dict[str, str]:
    """Nova's element in 1.1 (with ports) and 1.0 (as old Nova: no ports), made in parallel
    because each call starts Nova's interpreter."""
    require_consumers("nova")
    with ThreadPoolExecutor(2) as pool:
        new = pool.submit(instance_metadata_xml, {**VALUES, "ports": PORTS}, "1.1")
        old = pool.submit(instance_metadata_xml, {**VALUES, "ports": []}, "1.0")
        return {"1.1": new.result(), "1.0": old.result()}


def test_nova_elements_are_what_nova_writes(nova: dict[str, str]) -> None:
    # Guards the oracle: the files below must hold Nova's shapes, not ours.
    assert NS_1_1 in nova["1.1"] and "<nova:ports>" in nova["1.1"]
    assert 'type="floating" address="203.0.113.10"' in nova["1.1"]
    assert NS_1_0 in nova["1.0"] and NS_1_1 not in nova["1.0"]
    assert "<nova:extraSpecs/>" in nova["1.1"]


def test_nova_1_1_persistent_definition(nova: dict[str, str]) -> None:
    domain = read_domain(persistent(DOMAIN, UUID, nova["1.1"]).encode())
    assert domain.rows() == expected(None)


def test_nova_1_1_live_state(nova: dict[str, str]) -> None:
    domain = read_domain(live(DOMAIN, UUID, nova["1.1"]).encode())
    assert domain.rows() == expected("running")


def test_nova_1_1_paused_live_state(nova: dict[str, str]) -> None:
    domain = read_domain(live(DOMAIN, UUID, nova["1.1"], state="paused").encode())
    assert [row.state for row in domain.rows()] == ["paused"] * 3


@pytest.mark.parametrize("wrap", [persistent, live])
def test_nova_1_0_has_no_ports(nova: dict[str, str], wrap: Callable[..., str]) -> None:
    domain = read_domain(wrap(DOMAIN, UUID, nova["1.0"]).encode())
    assert domain.metadata is not None and domain.metadata.namespace == NS_1_0
    assert domain.rows() == []
    state = "running" if wrap is live else None
    bare = Row(DOMAIN, UUID, "web-1", PROJECT, None, None, None, None, state)
    assert domain.rows(include_bare=True) == [bare]


def test_handwritten_1_0_element_with_ports_is_read() -> None:
    # Nova never wrote ports in 1.0, but other tools did: the namespace alone decides nothing.
    xml = element(
        namespace=NS_1_0,
        ports=[(PORT_A, [("fixed", "192.0.2.7", "4"), ("fixed", "2001:db8:1::7", "6")])],
    )
    domain = read_domain(persistent(DOMAIN, UUID, xml).encode())
    assert domain.rows() == [
        Row(DOMAIN, UUID, "web-1", PROJECT, PORT_A, "192.0.2.7", "fixed", 4, None),
        Row(DOMAIN, UUID, "web-1", PROJECT, PORT_A, "2001:db8:1::7", "fixed", 6, None),
    ]


def test_1_1_wins_over_1_0_in_the_same_domain(nova: dict[str, str]) -> None:
    # A domain a newer Nova updated may still carry the old element: the new one is current.
    old = element(namespace=NS_1_0, name="stale", ports=[(PORT_A, [("fixed", "10.9.9.9", "4")])])
    domain = read_domain(persistent(DOMAIN, UUID, old + nova["1.1"]).encode())
    assert domain.rows() == expected(None)


def test_version_comes_from_the_address_when_the_attribute_is_missing() -> None:
    xml = element(ports=[(PORT_A, [("fixed", "2001:db8::9", None), ("fixed", "10.1.1.1", None)])])
    rows = read_domain(persistent(DOMAIN, UUID, xml).encode()).rows()
    assert [(row.ip, row.ip_version) for row in rows] == [("2001:db8::9", 6), ("10.1.1.1", 4)]


def test_directory_of_definitions_and_live_states(nova: dict[str, str], tmp_path: Path) -> None:
    etc, run = tmp_path / "etc", tmp_path / "run"
    etc.mkdir()
    run.mkdir()
    write(etc, f"{DOMAIN}.xml", persistent(DOMAIN, UUID, nova["1.1"]))
    write(run, f"{DOMAIN}.xml", live(DOMAIN, UUID, nova["1.1"]))
    off_uuid = "0d0d0d0d-0000-4000-8000-000000000001"
    write(etc, "instance-0000002b.xml", persistent("instance-0000002b", off_uuid, nova["1.0"]))
    # Other files libvirtd keeps in its run directory are not domains: only *.xml is read.
    write(run, f"{DOMAIN}.pid", "4242\n")

    for order in ([etc, run], [run, etc]):
        scan = scan_files(order)
        assert scan.failures == []
        # Listed once, from the live file; the definition-only domain is shut off.
        assert scan.rows(include_bare=True) == [
            *expected("running"),
            Row("instance-0000002b", off_uuid, "web-1", PROJECT, None, None, None, None, "shutoff"),
        ]

    # Without live files, nothing is known about states.
    assert scan_files([etc]).rows() == expected(None)
