"""All or nothing when ``apply`` dies: ``kill -9`` at many points, and the database failing
in the middle of a write, on SQLite and PostgreSQL.

Each round applies a file adding one network, a subnet and many servers with a port each,
as the real command, and kills it after a delay drawn from a seeded generator (so a
failure can be replayed) between the time the command takes to start and open the store
(``guestmeta revision``) and the time a whole apply takes. Afterwards the store
must hold the round's items either all (one revision more) or none (the same revision),
with the derived address rows agreeing, and must still take the next apply.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from guestmeta.apply import load_document, plan_apply
from guestmeta.model import Plan, Topology
from guestmeta.store import Store, StoreError, schema

GUESTMETA = Path(sys.executable).parent / "guestmeta"
SERVERS = 800  # per round: enough that the work of an apply takes a second or so
ROUNDS = 5


def round_file(tmp: Path, n: int) -> Path:
    lines = [
        "networks:",
        f"  - {{id: net-{n}, name: net-{n}}}",
        "subnets:",
        f"  - {{id: sub-{n}, name: sub-{n}, network_id: net-{n}, cidr: 10.{n}.0.0/16}}",
        "ports:",
    ]
    lines += [
        f"  - {{id: p-{n}-{i}, name: p-{n}-{i}, network_id: net-{n}}}" for i in range(SERVERS)
    ]
    lines.append("servers:")
    lines += [
        f"  - {{id: s-{n}-{i}, name: s-{n}-{i}, networks: [{{port: p-{n}-{i}}}]}}"
        for i in range(SERVERS)
    ]
    path = tmp / f"round-{n}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_apply(url: str, path: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "GUESTMETA_DB"}
    return subprocess.Popen(
        [str(GUESTMETA), "--db", url, "apply", str(path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def round_state(store: Store, n: int) -> tuple[int, int, int, int]:
    """(servers, ports, networks, address rows) of round ``n`` in the store."""
    topology = store.load()
    servers = sum(1 for s in topology.servers if s.startswith(f"s-{n}-"))
    ports = sum(1 for p in topology.ports if p.startswith(f"p-{n}-"))
    networks = int(f"net-{n}" in topology.networks)
    engine = create_engine(store.url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(func.count())
                .select_from(schema.fixed_ips)
                .where(schema.fixed_ips.c.network_id == f"net-{n}")
            ).scalar_one()
    finally:
        engine.dispose()
    return servers, ports, networks, int(rows)


def test_kill_9_at_random_points_leaves_all_or_nothing(store: Store, tmp_path: Path) -> None:
    rng = random.Random(10)
    started = time.monotonic()
    subprocess.run([str(GUESTMETA), "--db", store.url, "revision"], check=True, timeout=300)
    start_up = time.monotonic() - started
    started = time.monotonic()
    whole = run_apply(store.url, round_file(tmp_path, 0))
    assert whole.wait(300) == 0
    duration = time.monotonic() - started
    assert round_state(store, 0) == (SERVERS, SERVERS, 1, SERVERS)
    outcomes = []
    for n in range(1, ROUNDS + 1):
        before = store.revision()
        path = round_file(tmp_path, n)
        proc = run_apply(store.url, path)
        time.sleep(rng.uniform(0.9 * start_up, 1.05 * duration))
        proc.send_signal(signal.SIGKILL)
        proc.wait(60)
        state = round_state(store, n)
        if store.revision() == before:
            assert state == (0, 0, 0, 0), f"round {n}: partial state {state}"
            outcomes.append("nothing")
        else:
            assert store.revision() == before + 1
            assert state == (SERVERS, SERVERS, 1, SERVERS), f"round {n}: partial state {state}"
            outcomes.append("all")
    assert "nothing" in outcomes, f"no kill landed before the commit: {outcomes}"
    # The store takes the last file again after the crash.
    assert run_apply(store.url, path).wait(300) == 0
    assert round_state(store, ROUNDS) == (SERVERS, SERVERS, 1, SERVERS)


def test_postgresql_connection_lost_mid_write_is_one_line_and_nothing_stored(
    pg_store: Store,
) -> None:
    store = pg_store  # terminating a server connection is a PostgreSQL matter
    doc = load_document("a.yaml", "networks:\n  - {id: net-a, name: net-a}\n")
    store.change(lambda current: plan_apply(current, [doc]))
    killer = create_engine(store.url)

    def terminate_writer(current: Topology) -> Plan:
        with killer.connect() as conn:  # every other connection to this database: the writer
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        more = load_document("b.yaml", "networks:\n  - {id: net-b, name: net-b}\n")
        return plan_apply(current, [doc, more])

    try:
        with pytest.raises(StoreError) as caught:
            store.change(terminate_writer)
    finally:
        killer.dispose()
    message = str(caught.value)
    assert message.startswith("cannot write to store postgresql"), message
    assert "\n" not in message
    with Store(store.url) as again:
        assert again.revision() == 1
        assert set(again.load().networks) == {"net-a"}
