"""The agent against a real libvirtd: running and shut-off domains, live XML and files.

Every expectation is the scenario's values typed out again; the saved definition is
read from /etc/libvirt/qemu/NAME.xml and the running one from /run/libvirt/qemu/NAME.xml
as well as through libvirt.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import libvirt
import pytest

from guestmeta.apply import Plan
from guestmeta.host.agent import Agent
from guestmeta.model import FixedIP, FloatingIP, Topology
from guestmeta.store import Store
from tests.host.conftest import agent_running
from tests.libvirt.conftest import (
    FIP,
    HOST,
    NET_PUBLIC,
    NS,
    OTHER,
    PORT_OFF0,
    PORT_RUN0,
    PORT_SPARE,
    SERVER_RUN,
    element,
    live_file,
    other_kept,
    ports_of,
    saved_file,
)
from tests.libvirtd import URI, LibvirtDaemon, define, remove

RUN_PORTS = [
    (
        PORT_RUN0,
        [("fixed", "192.168.10.11", "4"), ("fixed", "2001:db8:10::11", "6")],
    )
]
OFF_PORTS = [(PORT_OFF0, [("fixed", "192.168.10.21", "4")])]
STALE = f'<nova:instance xmlns:nova="{NS}"><nova:name>stale</nova:name></nova:instance>'


@pytest.fixture
def domains(qemu: Any) -> Iterator[tuple[Any, Any]]:
    run = define(qemu, "gmtest-run", start=True, macs=("fa:16:3e:00:01:01",), metadata=OTHER)
    off = define(qemu, "gmtest-off", macs=("fa:16:3e:00:02:01",), metadata=OTHER + STALE)
    try:
        yield run, off
    finally:
        remove(run)
        remove(off)


def wait_for(check: Callable[[], bool], timeout: float = 5.0) -> float:
    """Seconds until ``check`` holds; fails the test after ``timeout``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout:g} s")
        time.sleep(0.02)
    return time.monotonic() - started


def both_show(dom: Any, expected: list[Any]) -> bool:
    name = dom.name()
    try:
        return (
            ports_of(dom.XMLDesc(0)) == expected
            and ports_of(live_file(name)) == expected
            and ports_of(saved_file(name)) == expected
        )
    except (AssertionError, FileNotFoundError):
        return False


def test_one_pass_writes_running_and_shut_off_domains(
    domains: tuple[Any, Any], scenario_store: Store
) -> None:
    run, off = domains
    report = Agent(scenario_store, uri=URI, host=HOST).run_once()
    assert report.checked == 2
    assert sorted(o.domain for o in report.written) == ["gmtest-off", "gmtest-run"]
    assert {o.domain: o.written for o in report.written} == {
        "gmtest-run": ("live", "config"),
        "gmtest-off": ("config",),
    }
    assert both_show(run, RUN_PORTS)
    assert ports_of(saved_file("gmtest-off")) == OFF_PORTS
    assert ports_of(off.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)) == OFF_PORTS
    for xml in (run.XMLDesc(0), saved_file("gmtest-run"), live_file("gmtest-run")):
        assert other_kept(xml)
    assert other_kept(saved_file("gmtest-off"))

    el = element(saved_file("gmtest-run"))
    q = f"{{{NS}}}"
    assert el.findtext(f"{q}name") == "run"
    assert el.findtext(f"{q}creationTime") == "2025-01-02 03:04:05"
    assert el.find(f"{q}flavor").get("name") == "m1.tiny"
    assert el.findtext(f"{q}flavor/{q}memory") == "512"
    assert el.find(f"{q}owner/{q}project").get("uuid") == "0c1d2e3f4a5b4c6d8e9f0a1b2c3d4e5f"
    off_el = element(saved_file("gmtest-off"))
    assert off_el.findtext(f"{q}name") == "off"  # the stale element was replaced
    assert off_el.findtext(f"{q}creationTime") == "2024-06-30 23:59:58"

    again = Agent(scenario_store, uri=URI, host=HOST).run_once()
    assert again.checked == 2
    assert again.written == []
    assert again.failed == []


def test_domains_of_other_hosts_are_left_alone(
    domains: tuple[Any, Any], scenario_store: Store
) -> None:
    run, _ = domains
    report = Agent(scenario_store, uri=URI, host="some-other-host").run_once()
    assert report.checked == 0
    with pytest.raises(libvirt.libvirtError):
        run.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, NS, 0)


def _associate(current: Topology) -> Any:
    new = current.copy()
    new.floatingips[FIP] = FloatingIP(
        id=FIP,
        floating_ip_address="203.0.113.50",
        floating_network_id=NET_PUBLIC,
        port_id=PORT_RUN0,
        fixed_ip_address="192.168.10.11",
    )
    return Plan.between(current, new)


def _edit(edit: Callable[[Topology], None]) -> Callable[[Topology], Any]:
    def compute(current: Topology) -> Any:
        new = current.copy()
        edit(new)
        return Plan.between(current, new)

    return compute


@pytest.fixture
def running_agent(scenario_store: Store) -> Iterator[Agent]:
    agent = Agent(scenario_store, uri=URI, host=HOST, interval=3600, backoff_max=1.0)
    with agent_running(agent):
        yield agent


def test_store_changes_reach_live_and_saved_xml_within_a_second(
    domains: tuple[Any, Any], scenario_store: Store, running_agent: Agent
) -> None:
    run, off = domains
    wait_for(lambda: both_show(run, RUN_PORTS), timeout=30)  # the first pass

    # A floating IP associated: listed after the port's fixed IPs.
    scenario_store.change(_associate)
    with_fip = [(PORT_RUN0, [*RUN_PORTS[0][1], ("floating", "203.0.113.50", "4")])]
    assert wait_for(lambda: both_show(run, with_fip)) < 1.0

    # A fixed IP changed on the running domain's port.
    def renumber(t: Topology) -> None:
        port = t.ports[PORT_RUN0]
        t.ports[PORT_RUN0] = replace(
            port,
            fixed_ips=(
                FixedIP(port.fixed_ips[0].subnet_id, "192.168.10.111"),
                port.fixed_ips[1],
            ),
        )
        t.floatingips[FIP] = replace(t.floatingips[FIP], fixed_ip_address="192.168.10.111")

    scenario_store.change(_edit(renumber))
    renumbered = [
        (
            PORT_RUN0,
            [
                ("fixed", "192.168.10.111", "4"),
                ("fixed", "2001:db8:10::11", "6"),
                ("floating", "203.0.113.50", "4"),
            ],
        )
    ]
    assert wait_for(lambda: both_show(run, renumbered)) < 1.0

    # The floating IP released.
    def release(t: Topology) -> None:
        t.floatingips[FIP] = replace(t.floatingips[FIP], port_id=None, fixed_ip_address=None)

    scenario_store.change(_edit(release))
    released = [(PORT_RUN0, renumbered[0][1][:2])]
    assert wait_for(lambda: both_show(run, released)) < 1.0

    # A fixed IP changed on the shut-off domain's port: only its saved file.
    def renumber_off(t: Topology) -> None:
        port = t.ports[PORT_OFF0]
        subnet = port.fixed_ips[0].subnet_id
        t.ports[PORT_OFF0] = replace(port, fixed_ips=(FixedIP(subnet, "192.168.10.121"),))

    scenario_store.change(_edit(renumber_off))
    off_ports = [(PORT_OFF0, [("fixed", "192.168.10.121", "4")])]
    assert wait_for(lambda: ports_of(saved_file("gmtest-off")) == off_ports) < 1.0
    assert not off.isActive()
    for xml in (run.XMLDesc(0), saved_file("gmtest-run"), saved_file("gmtest-off")):
        assert other_kept(xml)


def test_someone_elses_change_to_our_element_is_undone(
    domains: tuple[Any, Any], running_agent: Agent
) -> None:
    run, _ = domains
    wait_for(lambda: both_show(run, RUN_PORTS), timeout=30)
    forged = "<instance><name>forged</name><ports/></instance>"
    run.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, forged, "nova", NS, 3)
    assert wait_for(lambda: both_show(run, RUN_PORTS)) < 1.0
    assert element(run.XMLDesc(0)).findtext(f"{{{NS}}}name") == "run"


def test_interface_plugged_by_hand_is_adopted(
    domains: tuple[Any, Any], scenario_store: Store, running_agent: Agent
) -> None:
    run, _ = domains
    wait_for(lambda: both_show(run, RUN_PORTS), timeout=30)
    nic = (
        "<interface type='user'><mac address='FA:16:3E:00:09:09'/>"
        "<model type='virtio'/></interface>"
    )
    run.attachDeviceFlags(nic, libvirt.VIR_DOMAIN_AFFECT_LIVE | libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    expected = [*RUN_PORTS, (PORT_SPARE, [("fixed", "192.168.10.99", "4")])]
    assert wait_for(lambda: both_show(run, expected)) < 2.0
    assert scenario_store.load().ports[PORT_SPARE].device_id == SERVER_RUN


def test_agent_survives_a_libvirtd_restart(
    libvirtd: LibvirtDaemon,
    domains: tuple[Any, Any],
    scenario_store: Store,
    running_agent: Agent,
) -> None:
    run, _ = domains
    wait_for(lambda: both_show(run, RUN_PORTS), timeout=30)
    connects = running_agent.connects
    libvirtd.restart_libvirtd()
    wait_for(lambda: running_agent.connects > connects, timeout=30)

    scenario_store.change(_associate)
    with_fip = [(PORT_RUN0, [*RUN_PORTS[0][1], ("floating", "203.0.113.50", "4")])]
    conn = libvirt.open(URI)
    try:
        dom = conn.lookupByName("gmtest-run")
        assert dom.isActive()  # guests keep running through a daemon restart
        assert wait_for(lambda: both_show(dom, with_fip)) < 1.0
    finally:
        conn.close()


def _pci_by_hand(dom: Any, mac: str) -> tuple[str, str]:
    """The NIC's <address type='pci'> read off the live XML and written as Nova writes it."""
    from lxml import etree

    root = etree.fromstring(dom.XMLDesc(0).encode())
    for iface in root.iterfind("devices/interface"):
        if iface.find("mac").get("address").lower() == mac:
            a = iface.find("address")
            assert a.get("type") == "pci"
            text = "{:04x}:{:02x}:{:02x}.{:x}".format(
                *(int(a.get(k), 16) for k in ("domain", "bus", "slot", "function"))
            )
            return "pci", text
    raise AssertionError(f"no interface {mac}")


def test_the_agent_records_where_each_nic_sits_on_its_bus(
    domains: tuple[Any, Any], scenario_store: Store
) -> None:
    run, off = domains
    before = scenario_store.revision()
    Agent(scenario_store, uri=URI, host=HOST).run_once()
    addresses = scenario_store.nic_addresses()
    where = _pci_by_hand(run, "fa:16:3e:00:01:01")
    assert where[1].startswith("0000:00:")  # a slot on the pc machine's root bus
    # A shut-off domain's saved definition has its addresses too.
    off_xml = off.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    assert "fa:16:3e:00:02:01" in off_xml
    assert set(addresses) == {"fa:16:3e:00:01:01", "fa:16:3e:00:02:01"}
    assert addresses["fa:16:3e:00:01:01"] == where
    after = scenario_store.revision()
    assert after == before + 2  # one change per server: the services follow it
    Agent(scenario_store, uri=URI, host=HOST).run_once()
    assert scenario_store.revision() == after  # nothing moved: nothing written
