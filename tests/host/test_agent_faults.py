"""The agent keeps going when the store fails under it and knows the store before its
first pass; a refused hot-plug leaves the store as it was. On libvirt's in-process test
driver, so the agent's loop and the attach run for real."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import libvirt
import pytest
from sqlalchemy.exc import OperationalError

from guestmeta.host.agent import Agent
from guestmeta.host.ports import attach_port
from guestmeta.libvirt import LIVE, load
from guestmeta.libvirt.hotplug import HotplugError
from guestmeta.libvirt.interfaces import parse_vif_source
from guestmeta.store import Store
from tests.host.conftest import agent_running
from tests.libvirt.conftest import HOST, PORT_RUN0, PORT_SPARE, SERVER_RUN

URI = "test:///default"


class FlakyStore:
    """A real store whose first ``failures`` reads of the host's servers fail as a database
    restart makes them.

    Fault injection: restarting PostgreSQL under a running agent would take seconds and
    could not choose the moment; the failure raised is the one SQLAlchemy raises then.
    """

    def __init__(self, store: Store, failures: int) -> None:
        self.store = store
        self.failures = failures

    def _fail(self) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise OperationalError("SELECT", {}, Exception("server closed the connection"))

    def follow_host(self, host: str, copy: Any, at_least: int = -1) -> Any:
        self._fail()
        return self.store.follow_host(host, copy, at_least)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@pytest.fixture
def running_domain() -> Iterator[Any]:
    conn = libvirt.open(URI)
    dom = conn.defineXML(
        "<domain type='test'><name>gmtest-run</name><memory>1024</memory>"
        "<os><type>hvm</type></os></domain>"
    )
    dom.create()
    try:
        yield dom
    finally:
        dom.destroy()
        dom.undefine()
        conn.close()


def ports_when_written(dom: Any, timeout: float = 10.0) -> list[str] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        meta = load(dom, LIVE)
        if meta is not None:
            return [p.uuid for p in meta.ports]
        time.sleep(0.05)
    return None


@pytest.mark.parametrize("failures", [1, 3])
def test_store_failures_neither_stop_the_agent_nor_lose_its_work(
    scenario_store: Store, running_domain: Any, failures: int
) -> None:
    store = FlakyStore(scenario_store, failures)
    agent = Agent(store, uri=URI, host=HOST, interval=3600, backoff_max=0.2)  # type: ignore[arg-type]
    with agent_running(agent) as thread:
        assert ports_when_written(running_domain) == [PORT_RUN0]
        assert thread.is_alive()
        assert store.failures == 0


def test_the_first_pass_knows_the_store(scenario_store: Store, running_domain: Any) -> None:
    """The connect pass must not run on an empty view while the store watcher starts."""
    agent = Agent(scenario_store, uri=URI, host=HOST, interval=3600)
    with agent_running(agent):
        assert ports_when_written(running_domain) == [PORT_RUN0]
        assert agent.revision == scenario_store.revision()


def test_a_refused_attach_puts_the_port_back_exactly(
    scenario_store: Store, running_domain: Any
) -> None:
    """The test driver cannot hot-plug devices: libvirt refuses, the store is rolled back
    to the port as it was (owner and order too), and the error is one HotplugError."""
    before = scenario_store.load().ports[PORT_SPARE]
    revision = scenario_store.revision()
    conn = libvirt.open(URI)
    try:
        with pytest.raises(HotplugError, match="rolled back"):
            attach_port(scenario_store, conn, PORT_SPARE, SERVER_RUN, parse_vif_source("user"))
    finally:
        conn.close()
    after = scenario_store.load().ports[PORT_SPARE]
    assert after == before and after.seq == before.seq
    assert scenario_store.revision() == revision + 2  # the attach, then its undoing
