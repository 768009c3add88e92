"""A server that moves to another host: its element leaves the old host's domain and
arrives on the new host's, each agent told by its own feed.

The old host is the real libvirtd; the new one is libvirt's in-process test driver, a
second hypervisor that this machine can run beside it (two libvirtds would need two
sets of sockets and state directories).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import libvirt
import pytest

from guestmeta.host.agent import Agent
from guestmeta.libvirt import CONFIG, LIVE, load
from guestmeta.model import Plan, Topology
from guestmeta.store import Store
from guestmeta.store.feed import REPORT_SOON
from tests.host.conftest import agent_running
from tests.host.test_agent import RUN_PORTS, both_show, wait_for
from tests.libvirt.conftest import (
    HOST,
    NS,
    OTHER,
    PORT_RUN0,
    SERVER_RUN,
    live_file,
    other_kept,
    saved_file,
)
from tests.libvirtd import URI, define, remove

DEST = "hv-dest"
TEST_URI = "test:///default"


@pytest.fixture
def two_hosts(qemu: Any) -> Iterator[tuple[Any, Any]]:
    """gmtest-run on the real libvirtd, and a domain of the same name on the test driver."""
    run = define(qemu, "gmtest-run", start=True, macs=("fa:16:3e:00:01:01",), metadata=OTHER)
    conn = libvirt.open(TEST_URI)
    there = conn.defineXML(
        "<domain type='test'><name>gmtest-run</name><memory>1024</memory>"
        "<os><type>hvm</type></os></domain>"
    )
    there.create()
    try:
        yield run, there
    finally:
        remove(run)
        there.destroy()
        there.undefine()
        conn.close()


def move(store: Store, host: str) -> None:
    def compute(current: Topology) -> Plan:
        new = current.copy()
        new.servers[SERVER_RUN] = replace(current.servers[SERVER_RUN], host=host)
        return Plan.between(current, new)

    store.change(compute)


def ports(dom: Any, flag: int) -> list[str] | None:
    meta = load(dom, flag)
    return None if meta is None else [p.uuid for p in meta.ports]


def test_a_moved_server_leaves_the_old_host_and_arrives_on_the_new(
    two_hosts: tuple[Any, Any], scenario_store: Store
) -> None:
    run, there = two_hosts
    old = Agent(scenario_store, uri=URI, host=HOST, interval=3600)
    new = Agent(scenario_store, uri=TEST_URI, host=DEST, interval=3600)
    with agent_running(old), agent_running(new):
        wait_for(lambda: both_show(run, RUN_PORTS), timeout=10)
        assert ports(there, LIVE) is None  # not the new host's server yet

        move(scenario_store, DEST)
        wait_for(lambda: ports(there, LIVE) == [PORT_RUN0] == ports(there, CONFIG))
        wait_for(lambda: NS.encode() not in live_file("gmtest-run") + saved_file("gmtest-run"))
        with pytest.raises(libvirt.libvirtError):
            run.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, NS, 0)
        assert other_kept(saved_file("gmtest-run"))  # other applications' metadata stays

        move(scenario_store, HOST)  # and back
        wait_for(lambda: both_show(run, RUN_PORTS))
        wait_for(lambda: ports(there, LIVE) is None and ports(there, CONFIG) is None)
        time.sleep(REPORT_SOON + 1.5)
    # Each agent reported the revision it applied within a second or two of applying it.
    revision, _clock, rows = scenario_store.host_statuses()
    applied = {(row["host"], row["role"]): row["applied"] for row in rows}
    assert applied == {(HOST, "agent"): revision, (DEST, "agent"): revision}
