"""Port attach and detach against a real libvirtd, down to the guest releasing the NIC.

Detaching from a running domain completes only when a guest kernel answers the
unplug, so that test boots Debian's kernel into a busybox shell (tests/libvirt/guest.py).
A domain with no OS never answers, which is how the timeout is tested.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import libvirt
import pytest
from lxml import etree

from guestmeta.apply import ApplyError
from guestmeta.host.ports import attach_port, detach_port
from guestmeta.libvirt.connection import open_connection
from guestmeta.libvirt.hotplug import DetachTimeout
from guestmeta.libvirt.interfaces import VifSource
from guestmeta.store import Store
from tests.libvirt.conftest import (
    OTHER,
    PORT_OFF0,
    PORT_RUN0,
    PORT_RUN1,
    SERVER_OFF,
    SERVER_RUN,
    live_file,
    other_kept,
    ports_of,
    saved_file,
)
from tests.libvirtd import URI, LibvirtDaemon, define, remove

RUN0 = (PORT_RUN0, [("fixed", "192.168.10.11", "4"), ("fixed", "2001:db8:10::11", "6")])
RUN1 = (PORT_RUN1, [("fixed", "192.168.10.12", "4")])
OFF0 = (PORT_OFF0, [("fixed", "192.168.10.21", "4")])
USER = VifSource("user")


def nics(domain_xml: str | bytes) -> list[tuple[str, str, str]]:
    """(type, MAC, model) of every interface in a domain XML."""
    root = etree.fromstring(domain_xml.encode() if isinstance(domain_xml, str) else domain_xml)
    return [
        (iface.get("type"), iface.find("mac").get("address"), iface.find("model").get("type"))
        for iface in root.iter("interface")
    ]


@pytest.fixture
def conn(libvirtd: LibvirtDaemon) -> Iterator[Any]:
    """A connection with the event loop running, as the port commands open it."""
    opened = open_connection(URI, keepalive=True)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def run_dom(qemu: Any) -> Iterator[Any]:
    dom = define(qemu, "gmtest-run", start=True, macs=("fa:16:3e:00:01:01",), metadata=OTHER)
    yield dom
    remove(dom)


@pytest.fixture
def off_dom(qemu: Any) -> Iterator[Any]:
    dom = define(qemu, "gmtest-off", macs=("fa:16:3e:00:02:01",), metadata=OTHER)
    yield dom
    remove(dom)


def test_attach_plugs_a_running_domain_live_and_saved(
    conn: Any, run_dom: Any, scenario_store: Store
) -> None:
    done = attach_port(scenario_store, conn, "run-eth1", "run", USER)
    assert done.device == ("live", "config")
    assert done.metadata is not None and done.metadata.written == ("live", "config")
    assert scenario_store.load().ports[PORT_RUN1].device_id == SERVER_RUN
    expected_nics = [
        ("user", "fa:16:3e:00:01:01", "virtio"),
        ("user", "fa:16:3e:00:01:02", "virtio"),
    ]
    for xml in (run_dom.XMLDesc(0), live_file("gmtest-run"), saved_file("gmtest-run")):
        assert nics(xml) == expected_nics
        assert ports_of(xml) == [RUN0, RUN1]
        assert other_kept(xml)


def test_attach_to_a_shut_off_domain_changes_its_saved_definition(
    conn: Any, off_dom: Any, scenario_store: Store
) -> None:
    done = attach_port(scenario_store, conn, "run-eth1", "off", USER)
    assert done.device == ("config",)
    assert not off_dom.isActive()
    saved = saved_file("gmtest-off")
    assert nics(saved) == [
        ("user", "fa:16:3e:00:02:01", "virtio"),
        ("user", "fa:16:3e:00:01:02", "virtio"),
    ]
    assert ports_of(saved) == [OFF0, RUN1]
    assert other_kept(saved)

    back = detach_port(scenario_store, conn, "run-eth1", timeout=5)
    assert back.device == ("config",)
    saved = saved_file("gmtest-off")
    assert nics(saved) == [("user", "fa:16:3e:00:02:01", "virtio")]
    assert ports_of(saved) == [OFF0]
    assert scenario_store.load().ports[PORT_RUN1].device_id == ""
    assert scenario_store.load().ports[PORT_OFF0].device_id == SERVER_OFF


def test_detach_timeout_leaves_store_and_domain_as_they_were(
    conn: Any, run_dom: Any, scenario_store: Store
) -> None:
    """A domain with no OS never releases the NIC: nothing may change but the request."""
    attach_port(scenario_store, conn, "run-eth1", "run", USER)
    revision = scenario_store.revision()
    with pytest.raises(DetachTimeout, match=r"timed out after 1 s .* fa:16:3e:00:01:02"):
        detach_port(scenario_store, conn, "run-eth1", timeout=1)
    assert scenario_store.revision() == revision
    assert scenario_store.load().ports[PORT_RUN1].device_id == SERVER_RUN
    saved = saved_file("gmtest-run")
    assert ("user", "fa:16:3e:00:01:02", "virtio") in nics(saved)
    assert ports_of(saved) == [RUN0, RUN1]
    assert ports_of(run_dom.XMLDesc(0)) == [RUN0, RUN1]


def test_detach_from_a_running_guest_completes_and_updates_everything(
    conn: Any, booted: Any, scenario_store: Store
) -> None:
    attach_port(scenario_store, conn, "run-eth1", "run", USER)
    assert ports_of(saved_file("gmtest-run")) == [RUN0, RUN1]

    done = detach_port(scenario_store, conn, "run-eth1", timeout=60)
    assert done.device == ("live", "config")
    assert done.metadata is not None and done.metadata.written == ("live", "config")
    assert scenario_store.load().ports[PORT_RUN1].device_id == ""
    for xml in (booted.XMLDesc(0), live_file("gmtest-run"), saved_file("gmtest-run")):
        assert nics(xml) == [("user", "fa:16:3e:00:01:01", "virtio")]
        assert ports_of(xml) == [RUN0]
        assert other_kept(xml)
    assert booted.isActive()


def test_detach_of_a_port_that_is_not_attached_is_refused(
    conn: Any, run_dom: Any, scenario_store: Store
) -> None:
    with pytest.raises(ApplyError, match=f"port {PORT_RUN1} is not attached"):
        detach_port(scenario_store, conn, "run-eth1", timeout=1)
    # Nothing was unplugged either.
    assert nics(run_dom.XMLDesc(0)) == [("user", "fa:16:3e:00:01:01", "virtio")]
    assert run_dom.isActive()
    assert run_dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
