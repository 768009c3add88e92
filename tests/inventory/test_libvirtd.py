"""A real libvirtd: scanning the connection and scanning the files it keeps agree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from guestmeta.domainxml import IP, InstanceMetadata, PortIPs
from guestmeta.inventory.connection import scan_connection, scan_uri
from guestmeta.inventory.rows import Row
from guestmeta.inventory.xmlfiles import scan_files
from guestmeta.libvirt import domain as libvirt_domain
from tests.inventory.files import NS_1_0, element
from tests.libvirtd import URI

PROJECT = "6f0c3e1b-52a4-4c6e-9d1e-3b7a2c9f8e01"
OTHER_APP = "<app:tags xmlns:app='urn:example:app'><app:tag>blue</app:tag></app:tags>"
FILES = ["/etc/libvirt/qemu", "/run/libvirt/qemu"]


def mine(rows: list[Row], prefix: str) -> list[Row]:
    return sorted(
        (r for r in rows if r.domain.startswith(prefix)), key=lambda r: (r.domain, r.ip or "")
    )


def test_connection_and_files_give_the_same_rows(make_domain: Callable[..., Any]) -> None:
    running = make_domain("run", start=True, macs=("52:54:00:aa:00:01",))
    libvirt_domain.write(
        running,
        InstanceMetadata(
            name="web-1",
            project_uuid=PROJECT,
            ports=(
                PortIPs(
                    "port-run",
                    (
                        IP("fixed", "10.0.0.5", 4),
                        IP("floating", "203.0.113.10", 4),
                        IP("fixed", "2001:db8::5", 6),
                    ),
                ),
            ),
        ),
        libvirt_domain.LIVE | libvirt_domain.CONFIG,
    )
    # Old Nova's namespace, written into the definition as text, next to another app's.
    off = make_domain(
        "off",
        metadata=OTHER_APP
        + element(
            name="db-1", namespace=NS_1_0, ports=[("port-off", [("fixed", "10.0.0.6", "4")])]
        ),
    )
    bare = make_domain("bare")
    other = make_domain("other", metadata=OTHER_APP)
    prefix = running.name().rsplit("-", 1)[0] + "-"

    ids = {dom.name(): dom.UUIDString() for dom in (running, off, bare, other)}
    run, off_name, bare_name, other_name = (d.name() for d in (running, off, bare, other))
    expected = [
        Row(bare_name, ids[bare_name], None, None, None, None, None, None, "shutoff"),
        Row(
            off_name, ids[off_name], "db-1", PROJECT, "port-off", "10.0.0.6", "fixed", 4, "shutoff"
        ),
        Row(other_name, ids[other_name], None, None, None, None, None, None, "shutoff"),
        Row(run, ids[run], "web-1", PROJECT, "port-run", "10.0.0.5", "fixed", 4, "running"),
        Row(run, ids[run], "web-1", PROJECT, "port-run", "2001:db8::5", "fixed", 6, "running"),
        Row(run, ids[run], "web-1", PROJECT, "port-run", "203.0.113.10", "floating", 4, "running"),
    ]
    with_addresses = [row for row in expected if row.ip is not None]

    through_libvirt = scan_uri(URI)
    assert mine(through_libvirt.rows(include_bare=True), prefix) == expected
    assert mine(through_libvirt.rows(), prefix) == with_addresses
    assert not [f for f in through_libvirt.failures if f.source.startswith(prefix)]

    from_files = scan_files(FILES)
    assert mine(from_files.rows(include_bare=True), prefix) == expected
    assert not [f for f in from_files.failures if prefix in f.source]

    # The running domain's live file is what the file scan read: change only the live
    # element, and only the live answer changes, in both scans alike.
    libvirt_domain.write(
        running,
        InstanceMetadata(
            name="web-1",
            project_uuid=PROJECT,
            ports=(PortIPs("port-new", (IP("fixed", "10.0.0.99", 4),)),),
        ),
        libvirt_domain.LIVE,
    )
    live_rows = [
        Row(run, ids[run], "web-1", PROJECT, "port-new", "10.0.0.99", "fixed", 4, "running")
    ]
    for scan in (scan_files(FILES), scan_uri(URI)):
        assert [r for r in scan.rows() if r.domain == run] == live_rows
    assert [r for r in scan_files([FILES[0]]).rows() if r.domain == run] == [
        Row(run, ids[run], "web-1", PROJECT, "port-run", ip, kind, v, None)
        for ip, kind, v in (
            ("10.0.0.5", "fixed", 4),
            ("203.0.113.10", "floating", 4),
            ("2001:db8::5", "fixed", 6),
        )
    ]


def test_scan_connection_reads_only_the_metadata_element(
    make_domain: Callable[..., Any], conn: Any
) -> None:
    # A connection whose XMLDesc raises: the scan must not need it.
    dom = make_domain("cheap", metadata=element(ports=[("p1", [("fixed", "10.0.0.7", "4")])]))

    class NoXMLDesc:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            if name == "XMLDesc":
                raise AssertionError("the scan called XMLDesc")
            return getattr(self.inner, name)

    class Conn:
        def listAllDomains(self, flags: int = 0) -> list[Any]:
            return [NoXMLDesc(d) for d in conn.listAllDomains(flags) if d.name() == dom.name()]

    scan = scan_connection(Conn())
    assert scan.failures == []
    assert scan.rows() == [
        Row(dom.name(), dom.UUIDString(), "web-1", PROJECT, "p1", "10.0.0.7", "fixed", 4, "shutoff")
    ]


def test_connection_scan_reports_and_leaves_out_bad_addresses(
    make_domain: Callable[..., Any],
) -> None:
    """Anyone who may call ``virsh metadata`` can write any address; the scan checks each."""
    dom = make_domain(
        "badip",
        metadata=element(
            name="evil",
            ports=[("port-bad", [("fixed", "10.0.0.7", "4"), ("fixed", "999.1.1.1", "4")])],
        ),
    )
    scan = scan_uri(URI)
    assert [(r.ip, r.port_uuid) for r in scan.rows() if r.domain == dom.name()] == [
        ("10.0.0.7", "port-bad")
    ]
    assert [str(f) for f in scan.failures if f.source == dom.name()] == [
        f"{dom.name()}: port port-bad: '999.1.1.1' is not an IP address; address skipped"
    ]
