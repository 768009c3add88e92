"""``guestmeta serve --host``: one compute host's service answers for that host's servers
only, follows its feed when servers move in and out, and reports to ``guestmeta status``.

Both backends, a real service process over HTTP: PostgreSQL wakes it through the host's
own NOTIFY channel, SQLite through its poll of the file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from guestmeta.model import Plan, Topology
from guestmeta.store import Store
from tests.scale.fleet import children
from tests.service.conftest import Service, filled_store, request, start_proxied, stop
from tests.service.test_http import proxied

PATH = "/openstack/latest/meta_data.json"
HOST = "compute-01"
SHARED_WARNING = "start each host's service with --host NAME"
GUESTMETA = str(Path(sys.executable).with_name("guestmeta"))


@pytest.fixture(params=[1], ids=lambda n: f"{n}-worker")
def hosted(
    store_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[Service, Topology]]:
    topology = filled_store(store_url)
    config = f'rate_limit = 0\naccess_log = false\nhost = "{HOST}"\nworkers = {request.param}'
    service = start_proxied(tmp_path, store_url, config)
    try:
        yield service, topology
    finally:
        stop(service)


def answer(service: Service, server_id: str) -> tuple[int, Any]:
    reply = request(service.port, "GET", PATH, headers=proxied(server_id))
    return reply.status, json.loads(reply.body) if reply.status == 200 else None


def move(url: str, server_id: str, host: str) -> float:
    def compute(current: Topology) -> Plan:
        new = current.copy()
        new.servers[server_id] = replace(current.servers[server_id], host=host)
        return Plan.between(current, new)

    with Store(url) as store:
        store.change(compute)
    return time.monotonic()


def until(check: Any, committed: float, what: str, within: float = 1.0) -> None:
    while not check():
        assert time.monotonic() - committed < within, f"{what} not served in {within:g} s"
        time.sleep(0.01)


def test_answers_only_for_its_own_servers_and_follows_moves(
    hosted: tuple[Service, Topology],
) -> None:
    service, topology = hosted
    mine = sorted(s.id for s in topology.servers.values() if s.host == HOST)
    others = sorted(s.id for s in topology.servers.values() if s.host not in (HOST, None))
    assert len(mine) == 9 and len(others) == 27
    for server_id in mine:
        code, meta = answer(service, server_id)
        assert code == 200 and meta["uuid"] == server_id
    for server_id in others:
        assert answer(service, server_id)[0] == 404, server_id

    arriving, leaving = others[0], mine[0]
    committed = move(service.db, arriving, HOST)
    until(lambda: answer(service, arriving)[0] == 200, committed, "a server moved in")
    committed = move(service.db, leaving, "compute-02")
    until(lambda: answer(service, leaving)[0] == 404, committed, "a server moved out")
    assert answer(service, mine[1])[0] == 200  # the others stay
    assert SHARED_WARNING not in service.log.read_text()


def test_a_service_without_host_on_a_shared_store_says_so(store_url: str, tmp_path: Path) -> None:
    """The one-host default answers for every server; on a store several hosts share that
    is a mistake an operator should hear of at start."""
    topology = filled_store(store_url)
    hosts = sorted({s.host for s in topology.servers.values() if s.host})
    assert len(hosts) > 1
    service = start_proxied(tmp_path, store_url)
    try:
        assert answer(service, next(iter(topology.servers)))[0] == 200
        (line,) = [x for x in service.log.read_text().splitlines() if SHARED_WARNING in x]
        assert "WARNING" in line and f"all {len(hosts)} hosts" in line and hosts[0] in line
    finally:
        stop(service)


@pytest.mark.parametrize("hosted", [1, 2], indirect=True, ids=["1-worker", "2-workers"])
def test_status_shows_the_service_at_the_store_revision(
    hosted: tuple[Service, Topology],
) -> None:
    """One row per worker when there are several: each follows the feed on its own."""
    service, topology = hosted
    workers = tomllib.loads(service.config.read_text())["workers"]
    roles = ["serve"] if workers == 1 else [f"serve/{i}" for i in range(1, workers + 1)]
    other = next(s.id for s in topology.servers.values() if s.host not in (HOST, None))
    committed = move(service.db, other, HOST)
    until(lambda: answer(service, other)[0] == 200, committed, "a server moved in")
    deadline = time.monotonic() + 15  # reports go every 10 s
    while True:
        shown = subprocess.run(
            [GUESTMETA, "--db", service.db, "status", "--format", "json"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        report = json.loads(shown.stdout)
        rows = [h for h in report["hosts"] if h["host"] == HOST]
        if sorted(h["role"] for h in rows) == roles and all(
            h["applied"] == report["revision"] for h in rows
        ):
            break
        assert time.monotonic() < deadline, shown.stdout
        time.sleep(0.5)
    assert {h["pid"] for h in rows} == set(children(service.process.pid))  # each its own
    for row in rows:
        assert row["lag"] == 0 and row["pending"] == 0 and not row["stale"]
        assert row["last_seen_s"] < 15 and row["failures"] == []
    assert {h["host"] for h in report["hosts"]} == {HOST}  # only processes that reported
