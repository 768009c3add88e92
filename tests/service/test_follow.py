"""The service follows the store: a change is served within a second, under load too, and
a store that goes away leaves the last good answers serving until it is back.

Both backends: SQLite (the service polls the revision) and PostgreSQL (it is woken by
NOTIFY). The outage is real: the test refuses new connections to the database and
terminates the service's open ones, then lets them back.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from guestmeta.model import Topology
from guestmeta.model.changes import Plan
from guestmeta.store import Store
from tests.pgcluster import PostgresCluster
from tests.service.conftest import Service, filled_store, free_port, request, start_proxied, stop
from tests.service.test_http import WEB01, proxied

PATH = "/openstack/latest/meta_data.json"


@pytest.fixture
def serving(store_url: str, tmp_path: Path) -> Iterator[Service]:
    filled_store(store_url)
    service = start_proxied(tmp_path, store_url)
    try:
        yield service
    finally:
        stop(service)


def set_generation(url: str, generation: int) -> float:
    """Write web-01's metadata ``gen`` and return when the write committed."""

    def compute(current: Topology) -> Plan:
        new = current.copy()
        server = current.servers[WEB01]
        new.servers = {**current.servers, WEB01: replace(server, metadata={"gen": str(generation)})}
        return Plan.between(current, new)

    with Store(url) as store:
        store.change(compute)
    return time.monotonic()


def generation(service: Service) -> int | None:
    answer = request(service.port, "GET", PATH, headers=proxied(WEB01))
    assert answer.status == 200, answer
    meta = json.loads(answer.body).get("meta", {})
    return int(meta["gen"]) if "gen" in meta else None


def test_a_change_is_served_within_one_second(serving: Service) -> None:
    for gen in (1, 2, 3):
        committed = set_generation(serving.db, gen)
        while generation(serving) != gen:
            assert time.monotonic() - committed < 1.0, f"generation {gen} not served in 1 s"
            time.sleep(0.01)


def test_under_load_no_error_and_no_answer_staler_than_one_second(serving: Service) -> None:
    commits: list[tuple[int, float]] = []
    answers: list[tuple[float, int | None]] = []
    errors: list[str] = []
    done = threading.Event()

    def client() -> None:
        while not done.is_set():
            sent = time.monotonic()
            try:
                answers.append((sent, generation(serving)))
            except (AssertionError, OSError) as exc:
                errors.append(repr(exc))

    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    try:
        for gen in range(1, 11):
            commits.append((gen, set_generation(serving.db, gen)))
            time.sleep(0.15)
        time.sleep(1.1)
    finally:
        done.set()
        for thread in clients:
            thread.join()
    assert errors == []
    assert len(answers) > 100
    for sent, seen in answers:
        # Every change committed more than a second before the request must be in it.
        due = max((gen for gen, at in commits if at + 1.0 <= sent), default=None)
        if due is not None:
            assert seen is not None and seen >= due, (sent, seen, due)


def test_an_unreachable_store_leaves_the_last_answers_serving(
    postgres: PostgresCluster, tmp_path: Path
) -> None:
    name = f"outage_{free_port()}"
    url = postgres.create_database(name)
    filled_store(url)
    service = start_proxied(tmp_path, url)
    port = service.port
    admin = psycopg.connect(
        host=str(postgres.dir), port=postgres.port, user="postgres", dbname="postgres",
        autocommit=True,
    )  # fmt: skip
    try:
        before = request(port, "GET", PATH, headers=proxied(WEB01))
        assert before.status == 200
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:  # two seconds without a store
            answer = request(port, "GET", PATH, headers=proxied(WEB01))
            assert answer.status == 200
            assert json.loads(answer.body)["uuid"] == WEB01
            time.sleep(0.05)
        metrics = request(service.admin, "GET", "/metrics").body.decode()
        failures = [
            line for line in metrics.splitlines()
            if line.startswith("guestmeta_metadata_store_failures_total")
        ]  # fmt: skip
        assert failures and float(failures[0].split()[-1]) >= 1
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        committed = set_generation(url, 7)
        while generation(service) != 7:  # caught up once the store is back
            assert time.monotonic() - committed < 10.0
            time.sleep(0.05)
    finally:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.close()
        stop(service)
