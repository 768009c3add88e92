"""The per-host change feed, on SQLite and PostgreSQL: which hosts a change names, a host's
copy against the whole store, catching up, waking up, and the reports of ``status``."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select

from guestmeta.apply import load_document, plan_apply
from guestmeta.apply.edit import plan_detach
from guestmeta.documents import DocumentOptions, document_tree, service_tree
from guestmeta.domainxml import desired_many
from guestmeta.model import Plan, Topology
from guestmeta.store import Store, schema
from guestmeta.store.closure import HostCopy
from tests.conftest import DUMP, DUMP_FILES
from tests.model.test_affected import edits
from tests.store.test_store import K8S01, NET_PRIVATE, PORT_WEB01, WEB01

HOSTS = ["compute-01", "compute-02", "compute-03", "compute-04"]


@pytest.fixture
def dump(store: Store) -> Store:
    store.change(
        lambda current: plan_apply(current, [load_document(str(DUMP / n)) for n in DUMP_FILES])
    )
    return store


def feed_rows(store: Store, above: int) -> set[tuple[str, str]]:
    table = schema.host_feed
    with store.engine.connect() as conn:
        query = select(table.c.host, table.c.server_id).where(table.c.revision > above)
        return {(host, server) for host, server in conn.execute(query)}


def edit(store: Store, change: Any) -> int:
    """Apply ``change(topology) -> topology`` as one store change; the new revision."""
    return store.change(lambda current: Plan.between(current, change(current.copy()))).revision


def set_server(topology: Topology, server_id: str, **fields: Any) -> Topology:
    topology.servers[server_id] = replace(topology.servers[server_id], **fields)
    return topology


def documents(topology: Topology, server_id: str) -> tuple[Any, Any]:
    """What the service answers and what a drive holds (with a fixed seed)."""
    options = DocumentOptions()
    return (
        service_tree(topology, server_id, options),
        document_tree(topology, server_id, options, random_seed=bytes(512)),
    )


# -- what a change records ---------------------------------------------------------------


def test_a_change_names_only_the_host_of_the_server_it_touched(dump: Store) -> None:
    before = dump.revision()
    edit(dump, lambda t: set_server(t, WEB01, metadata={"role": "edge"}))
    host = dump.load().servers[WEB01].host
    assert feed_rows(dump, before) == {(host, WEB01)}


def test_a_moved_server_is_named_on_both_hosts(dump: Store) -> None:
    old = dump.load().servers[WEB01].host
    new = next(h for h in HOSTS if h != old)
    before = dump.revision()
    edit(dump, lambda t: set_server(t, WEB01, host=new))
    assert feed_rows(dump, before) == {(old, WEB01), (new, WEB01)}


def test_a_network_change_names_every_server_on_it(dump: Store) -> None:
    topology = dump.load()
    on_network = {
        (
            topology.servers[topology.index.server_of_port(p.id)].host,
            topology.index.server_of_port(p.id),
        )
        for p in topology.ports.values()
        if p.network_id == NET_PRIVATE and topology.index.server_of_port(p.id)
    }
    assert len({host for host, _ in on_network}) > 1  # the test means something
    before = dump.revision()
    edit(
        dump,
        lambda t: t.networks.update({NET_PRIVATE: replace(t.networks[NET_PRIVATE], mtu=1400)}) or t,
    )
    assert feed_rows(dump, before) == on_network


def test_a_detached_port_names_its_old_server(dump: Store) -> None:
    server = dump.load().index.server_of_port(PORT_WEB01)
    before = dump.revision()
    dump.change(lambda current: plan_detach(current, PORT_WEB01))
    host = dump.load().servers[server].host
    assert feed_rows(dump, before) == {(host, server)}


def test_nic_addresses_reported_by_an_agent_name_the_server(dump: Store) -> None:
    before = dump.revision()
    mac = dump.load().ports[PORT_WEB01].mac_address
    assert dump.set_nic_addresses(WEB01, {mac: ("pci", "0000:00:03.0")})
    copy = dump.read_host(dump.load().servers[WEB01].host)
    assert feed_rows(dump, before) == {(dump.load().servers[WEB01].host, WEB01)}
    assert copy.nic_addresses() == {mac: ("pci", "0000:00:03.0")}


# -- a host's copy -----------------------------------------------------------------------


def test_a_hosts_copy_builds_the_same_documents_and_elements_as_the_whole_store(
    dump: Store,
) -> None:
    """The closure is complete: every file of every server, and its nova:instance element,
    built from the host's copy equal those built from the whole store."""
    whole = dump.load()
    checked = 0
    for host in HOSTS:
        copy = dump.read_host(host)
        part = copy.topology()
        mine = {s.id for s in whole.servers.values() if s.host == host}
        assert set(part.servers) == mine
        assert desired_many(part, mine) == desired_many(whole, mine)
        for server_id in mine:
            assert documents(part, server_id) == documents(whole, server_id), server_id
            checked += 1
    assert checked == 36
    assert any(whole.index.sub_ports(p.id) for p in whole.ports.values())  # trunks covered
    assert whole.floatingips and whole.keypairs


def test_catching_up_equals_reading_afresh_and_leaves_other_hosts_alone(dump: Store) -> None:
    copies = {host: dump.read_host(host) for host in HOSTS}
    web01_host = copies_host = dump.load().servers[WEB01].host
    target = next(h for h in HOSTS if h != copies_host)
    untouched = next(
        h for h in HOSTS if h not in (web01_host, target, dump.load().servers[K8S01].host)
    )
    edit(dump, lambda t: set_server(t, WEB01, host=target))
    edit(dump, lambda t: set_server(t, K8S01, metadata={"tier": "2"}))
    for host in HOSTS:
        caught = dump.catch_up(copies[host])
        fresh = dump.read_host(host)
        assert caught.revision == fresh.revision == dump.revision()
        assert caught.closures == fresh.closures, host
        if host == untouched:
            assert caught.closures is copies[host].closures
    assert WEB01 not in dump.catch_up(copies[web01_host]).closures
    assert WEB01 in dump.catch_up(copies[target]).closures


def test_a_deleted_server_leaves_its_hosts_copy(dump: Store) -> None:
    host = dump.load().servers[WEB01].host
    copy = dump.read_host(host)
    edit(dump, lambda t: t.servers.pop(WEB01) and t)
    assert WEB01 not in dump.catch_up(copy).closures
    assert len(dump.catch_up(copy).closures) == len(copy.closures) - 1


# -- waiting and reporting ---------------------------------------------------------------


def test_the_watch_wakes_for_its_host_and_not_for_others(dump: Store) -> None:
    host = dump.load().servers[WEB01].host
    other = next(h for h in HOSTS if h != host)
    other_server = next(s.id for s in dump.load().servers.values() if s.host == other)
    watch = dump.feed_watch(host, "agent", poll=3600)
    try:
        start = watch.wait(-1, 0.1)
        assert watch.wait(start, 0.2) == start  # nothing new
        edit(dump, lambda t: set_server(t, other_server, metadata={"x": "1"}))
        began = time.monotonic()
        assert watch.wait(start, 1.0) == start  # another host's change does not wake it
        assert time.monotonic() - began >= 0.9
        writer = threading.Timer(
            0.3, lambda: edit(dump, lambda t: set_server(t, WEB01, metadata={"x": "2"}))
        )
        writer.start()
        began = time.monotonic()
        woke = watch.wait(start, 10.0)
        writer.join()
        assert woke == dump.revision()
        assert time.monotonic() - began < 2.0
    finally:
        watch.close()


def test_the_watch_catches_up_after_its_connection_was_lost(dump: Store) -> None:
    host = dump.load().servers[WEB01].host
    watch = dump.feed_watch(host, "serve", poll=3600)
    try:
        start = watch.wait(-1, 0.1)
        watch.close()  # as after a failure; changes go on meanwhile
        edit(dump, lambda t: set_server(t, WEB01, metadata={"x": "3"}))
        assert watch.wait(start, 0.5) == dump.revision()
    finally:
        watch.close()


def test_a_waiting_watch_costs_one_poll_and_one_report_per_period(dump: Store) -> None:
    watch = dump.feed_watch("compute-01", "agent", poll=1.0, report_every=1.0)
    try:
        start = watch.wait(-1, 0.01)
        sent = watch.queries
        watch.wait(start, 3.05)
        assert 5 <= watch.queries - sent <= 7  # three polls and three reports
    finally:
        watch.close()


def test_reports_show_applied_revisions_pending_work_and_failures(dump: Store) -> None:
    host = dump.load().servers[WEB01].host
    watch = dump.feed_watch(host, "agent", poll=3600)
    try:
        copy: HostCopy = dump.read_host(host)
        watch.applied = copy.revision
        watch.failures.add("libvirt: connection reset\nsecond line")
        watch.report()
        revision, clock, rows = dump.host_statuses()
        (row,) = rows
        assert (row["host"], row["role"], row["applied"], row["pending"]) == (
            host,
            "agent",
            revision,
            0,
        )
        assert abs(clock - row["seen_at"]) < 5
        assert "libvirt: connection reset" in row["failures"]
        assert "second line" not in row["failures"]
        edit(dump, lambda t: set_server(t, WEB01, metadata={"x": "4"}))
        started = row["started_at"]
        watch.report()
        (row,) = dump.host_statuses()[2]
        assert row["pending"] == 1 and row["started_at"] == started
    finally:
        watch.close()


def test_address_rows_follow_random_edits(dump: Store) -> None:
    """The writer rewrites only the address rows of ports a change can alter; after any
    edit the table still equals every fixed IP of the store with the server it serves."""
    rng = random.Random(3)
    table = schema.fixed_ips
    columns = (table.c.network_id, table.c.subnet_id, table.c.ip_address, table.c.port_id)
    for _ in range(25):
        current = dump.load()
        new = edits(current, rng)
        dump.change(lambda c, new=new: Plan.between(c, new))
        whole = dump.load()
        with dump.engine.connect() as conn:
            stored = set(conn.execute(select(*columns, table.c.server_id)))
        assert stored == set(whole.index.address_rows())
