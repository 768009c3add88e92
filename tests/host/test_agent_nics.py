"""The agent's other halves, against a real libvirtd: the NIC of a port that the store
detached while libvirt could not be reached is unplugged (not adopted back), and a
domain that is no longer a server's loses our element but keeps everyone else's.

Expected values are the scenario's, typed out again (tests/libvirt/conftest.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import libvirt
import pytest

from guestmeta.host.agent import Agent
from guestmeta.host.ports import attach_port, detach_port
from guestmeta.libvirt.interfaces import VifSource
from guestmeta.model import Plan, Topology
from guestmeta.store import Store
from tests.host.test_agent import RUN_PORTS, both_show, wait_for
from tests.libvirt.conftest import (
    HOST,
    NS,
    OTHER,
    PORT_OFF0,
    PORT_RUN1,
    SERVER_OFF,
    other_kept,
    ports_of,
    saved_file,
)
from tests.libvirtd import URI, LibvirtDaemon, define, remove

INACTIVE = libvirt.VIR_DOMAIN_XML_INACTIVE
OFF_PORTS = [(PORT_OFF0, [("fixed", "192.168.10.21", "4")])]


def macs(domain_xml: str) -> list[str]:
    from lxml import etree

    root = etree.fromstring(domain_xml.encode())
    return [mac.get("address") for mac in root.iterfind("devices/interface/mac")]


MARK_NS = "urn:guestmeta:agent:1"


def mark_of(domain_xml: str | bytes) -> str | None:
    """The host in the agent's mark, as the XML holds it; None without a mark."""
    from lxml import etree

    data = domain_xml.encode() if isinstance(domain_xml, str) else domain_xml
    mark = etree.fromstring(data).find(f".//{{{MARK_NS}}}managed")
    return mark.get("host") if mark is not None else None


def saved_ports(name: str) -> list[Any] | None:
    """The ports the saved definition's element lists; None while it has no element."""
    xml = saved_file(name)
    return ports_of(xml) if has_element(xml) else None


def has_element(domain_xml: str | bytes) -> bool:
    from lxml import etree

    data = domain_xml.encode() if isinstance(domain_xml, str) else domain_xml
    return etree.fromstring(data).find(f".//{{{NS}}}instance") is not None


@pytest.fixture
def off(qemu: Any) -> Iterator[Any]:
    dom = define(qemu, "gmtest-off", macs=("fa:16:3e:00:02:01",), metadata=OTHER)
    try:
        yield dom
    finally:
        remove(dom)


def _running(store: Store) -> Callable[[], None]:
    agent = Agent(store, uri=URI, host=HOST, interval=3600, backoff_max=0.5)
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    thread.start()

    def halt() -> None:
        stop.set()
        thread.join(timeout=15)
        assert not thread.is_alive()

    return halt


def test_a_nic_detached_in_the_store_while_libvirtd_was_down_is_unplugged(
    libvirtd: LibvirtDaemon, off: Any, scenario_store: Store
) -> None:
    halt = _running(scenario_store)
    try:
        wait_for(lambda: saved_ports("gmtest-off") == OFF_PORTS, timeout=30)
        libvirtd.stop_libvirtd()
        try:
            done = detach_port(scenario_store, None, "off-eth0", timeout=1)
            assert done.note == "libvirt not reached: store only"
        finally:
            libvirtd._start_libvirtd()
        conn = libvirt.open(URI)
        try:
            dom = conn.lookupByName("gmtest-off")
            wait_for(lambda: macs(dom.XMLDesc(INACTIVE)) == [], timeout=30)
            wait_for(lambda: saved_ports("gmtest-off") == [], timeout=5)
            assert other_kept(saved_file("gmtest-off"))
        finally:
            conn.close()
        # Unplugged, not adopted back: the store still has the port free.
        assert scenario_store.load().ports[PORT_OFF0].device_id == ""
    finally:
        halt()


def test_a_nic_detached_in_the_store_is_unplugged_from_a_running_guest(
    qemu: Any, booted: Any, scenario_store: Store
) -> None:
    dom = booted
    attach_port(scenario_store, qemu, "run-eth1", "run", VifSource("user"))
    assert macs(dom.XMLDesc(0)) == ["fa:16:3e:00:01:01", "fa:16:3e:00:01:02"]
    halt = _running(scenario_store)
    try:
        two = [*RUN_PORTS, (PORT_RUN1, [("fixed", "192.168.10.12", "4")])]
        wait_for(lambda: both_show(dom, two), timeout=30)

        # The store alone: as an apply or another host's `port detach` does it.
        def detach(current: Topology) -> Plan:
            new = current.copy()
            new.ports[PORT_RUN1] = replace(new.ports[PORT_RUN1], device_id="", device_owner="")
            return Plan.between(current, new)

        scenario_store.change(detach)
        wait_for(lambda: macs(dom.XMLDesc(0)) == ["fa:16:3e:00:01:01"], timeout=30)
        wait_for(lambda: both_show(dom, RUN_PORTS), timeout=5)
        assert macs(dom.XMLDesc(INACTIVE)) == ["fa:16:3e:00:01:01"]
        assert scenario_store.load().ports[PORT_RUN1].device_id == ""
        assert other_kept(dom.XMLDesc(0))
        assert dom.isActive()
    finally:
        halt()


def test_a_domain_whose_server_was_deleted_loses_only_our_element(
    off: Any, scenario_store: Store
) -> None:
    halt = _running(scenario_store)
    try:
        wait_for(lambda: saved_ports("gmtest-off") == OFF_PORTS, timeout=30)

        scenario_store.change(_delete_off)
        wait_for(lambda: not has_element(saved_file("gmtest-off")), timeout=5)
        assert not has_element(off.XMLDesc(INACTIVE))
        assert other_kept(saved_file("gmtest-off"))
        # Its NIC is left alone: the domain is not ours any more.
        assert macs(off.XMLDesc(INACTIVE)) == ["fa:16:3e:00:02:01"]
    finally:
        halt()


def _delete_off(current: Topology) -> Plan:
    new = current.copy()
    del new.servers[SERVER_OFF]
    new.ports[PORT_OFF0] = replace(new.ports[PORT_OFF0], device_id="", device_owner="")
    return Plan.between(current, new)


def test_a_server_deleted_while_no_agent_ran_loses_its_element_at_the_next_start(
    qemu: Any, off: Any, scenario_store: Store
) -> None:
    foreign = define(
        qemu,
        "gmtest-foreign",
        metadata=OTHER + f'<nova:instance xmlns:nova="{NS}"><nova:name>nova wrote this</nova:name>'
        "</nova:instance>",
    )
    try:
        Agent(scenario_store, uri=URI, host=HOST).run_once()
        assert saved_ports("gmtest-off") == OFF_PORTS
        assert mark_of(saved_file("gmtest-off")) == HOST
        scenario_store.change(_delete_off)  # no agent runs now
        report = Agent(scenario_store, uri=URI, host=HOST).run_once()
        assert report.failed == []
        assert not has_element(saved_file("gmtest-off"))
        assert mark_of(saved_file("gmtest-off")) is None
        assert other_kept(saved_file("gmtest-off"))
        # An element nobody marked (Nova's, a script's) on a domain that is not a server's
        # is not ours to remove.
        assert has_element(saved_file("gmtest-foreign"))
        assert other_kept(saved_file("gmtest-foreign"))
    finally:
        remove(foreign)


def test_another_hosts_mark_is_left_alone(off: Any, scenario_store: Store) -> None:
    Agent(scenario_store, uri=URI, host=HOST).run_once()
    scenario_store.change(_delete_off)
    Agent(scenario_store, uri=URI, host="hv-other").run_once()
    assert has_element(saved_file("gmtest-off"))
    assert mark_of(saved_file("gmtest-off")) == HOST
