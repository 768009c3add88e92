"""A host's copy read from a streaming replica: what it reads there equals the primary's,
and a replica that has not replayed the change a host was told of is not believed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import psycopg
import pytest

from guestmeta.apply import load_document, plan_apply
from guestmeta.model import Plan, Topology
from guestmeta.store import Store
from guestmeta.store.closure import HostCopy
from tests.conftest import DUMP, DUMP_FILES
from tests.pgcluster import PostgresCluster
from tests.store.test_store import WEB01


@pytest.fixture(scope="module")
def primary_and_replica() -> Iterator[tuple[PostgresCluster, PostgresCluster]]:
    primary = PostgresCluster(port=54361).start()
    try:
        url = primary.create_database("feeds")
        with Store(url) as store:
            documents = [load_document(str(DUMP / n)) for n in DUMP_FILES]
            store.change(lambda current: plan_apply(current, documents))
        standby = primary.replica(54362)
        try:
            yield primary, standby
        finally:
            standby.stop()
    finally:
        primary.stop()


def standby_sql(standby: PostgresCluster, sql: str) -> None:
    with psycopg.connect(
        host=str(standby.dir), port=standby.port, user="postgres", dbname="feeds",
        autocommit=True,
    ) as conn:  # fmt: skip
        conn.execute(sql)


@contextmanager
def primary_and_host(
    primary: PostgresCluster, standby: PostgresCluster
) -> Iterator[tuple[Store, Store, HostCopy]]:
    """The control plane's store, a host's store with the replica, and the host's copy."""
    with (
        Store(primary.url("feeds")) as store,
        Store(primary.url("feeds"), replica=standby.url("feeds")) as host,
    ):
        name = store.load().servers[WEB01].host
        assert name
        yield store, host, host.read_host(name, at_least=store.revision())


def set_meta(store: Store, value: str) -> int:
    def compute(current: Topology) -> Plan:
        new = current.copy()
        new.servers[WEB01] = replace(current.servers[WEB01], metadata={"v": value})
        return Plan.between(current, new)

    return store.change(compute).revision


def test_a_hosts_copy_from_the_replica_equals_the_primarys(
    primary_and_replica: tuple[PostgresCluster, PostgresCluster],
) -> None:
    with primary_and_host(*primary_and_replica) as (store, host, copy):
        assert copy.closures == store.read_host(copy.host).closures
        revision = set_meta(store, "1")
        caught = host.catch_up(copy, at_least=revision)
        assert caught.revision >= revision
        assert caught.closures[WEB01].server.metadata == {"v": "1"}


def test_a_replica_behind_the_notified_revision_is_not_believed(
    primary_and_replica: tuple[PostgresCluster, PostgresCluster],
) -> None:
    standby = primary_and_replica[1]
    with primary_and_host(*primary_and_replica) as (store, host, copy):
        standby_sql(standby, "SELECT pg_wal_replay_pause()")
        try:
            revision = set_meta(store, "2")
            began = time.monotonic()
            caught = host.catch_up(copy, at_least=revision)  # the replica stays behind
            waited = time.monotonic() - began
            assert caught.revision == revision
            assert caught.closures[WEB01].server.metadata == {"v": "2"}
            assert 0.9 < waited < 5  # it waited for the replica, then asked the primary
            # Never backwards: a copy newer than the replica stays where it is.
            again = host.catch_up(caught)
            assert again.revision == revision and again.closures is caught.closures
        finally:
            standby_sql(standby, "SELECT pg_wal_replay_resume()")
