"""Shared fixtures: a store on SQLite and on a real PostgreSQL cluster, and a real libvirtd,
all started by the tests."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from guestmeta.store import Store
from tests.libvirtd import LibvirtDaemon
from tests.pgcluster import PostgresCluster

DATA = Path(__file__).parent / "data"
# A dump saved from a real Neutron and Nova API, one file per response.
DUMP = DATA / "openstack"
DUMP_FILES = (
    "networks.json",
    "subnets.json",
    "ports.json",
    "floatingips.json",
    "servers.json",
    "keypairs.json",
)
_databases = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def libvirtd() -> Iterator[LibvirtDaemon]:
    """One real libvirtd for the whole session, shared by every test that needs it."""
    daemon = LibvirtDaemon().start()
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'guestmeta.db'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return cluster.create_database(f"test_{next(_databases)}")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store(store_url) as opened:
        yield opened
