"""Shared fixtures: a store on SQLite and on a real PostgreSQL cluster, and a real libvirtd,
all started by the tests; and the rule for tests that need a real consumer.

A test that needs Debian's cloud-init, glean, cloudbase-init or Nova carries the mark
``@pytest.mark.consumers("glean", ...)`` (or calls ``require_consumers``): when one is not
installed the test fails with a line naming it and how to install it.
``--allow-missing-consumers`` skips those tests instead (see tests/consumers/require.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from guestmeta.store import Store
from tests.consumers import require
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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        require.ALLOW_MISSING,
        action="store_true",
        help="skip the tests whose real consumer (cloud-init, glean, cloudbase-init, Nova) "
        "is not installed, instead of failing them",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{require.MARK}(*names): the test needs these real consumers "
        f"({', '.join(require.CONSUMERS)}); it fails when one is missing, unless "
        f"{require.ALLOW_MISSING} is given",
    )
    require.allow_missing(config.getoption(require.ALLOW_MISSING))


def pytest_runtest_setup(item: pytest.Item) -> None:
    require.check_marks(item)


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
def pg_store(postgres: PostgresCluster) -> Iterator[Store]:
    """A store on PostgreSQL only, for what SQLite has no counterpart of (a server
    connection to lose)."""
    with Store(postgres.create_database(f"test_{next(_databases)}")) as opened:
        yield opened


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store(store_url) as opened:
        yield opened
