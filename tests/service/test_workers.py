"""Several workers: each has a listening socket of its own on the same port.

The supervisor binds one socket per worker and TCP listener in one ``SO_REUSEPORT`` group,
so the kernel spreads connections over the workers by their addresses instead of letting
whichever worker wakes first take a burst of them. Seen from outside with ``ss``: as many
listening sockets on the port as there are workers, and accepted connections held by
every worker. A worker that dies is replaced on the very same sockets.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.service.conftest import (
    Service,
    filled_store,
    request,
    start_proxied,
)
from tests.service.test_http import WEB01, proxied

WORKERS = 3


def _listening(port: int) -> list[str]:
    """The inode of each listening socket on ``port``."""
    done = subprocess.run(
        ["ss", "-Hltne", f"sport = :{port}"], capture_output=True, text=True, check=True
    )
    return sorted(re.findall(r"ino:(\d+)", done.stdout))


def _holders(port: int) -> dict[int, int]:
    """Established connections to ``port``, counted by the PID that holds each."""
    done = subprocess.run(
        ["ss", "-Htnp", "state", "established", f"sport = :{port}"],
        capture_output=True,
        text=True,
        check=True,
    )
    counts: dict[int, int] = {}
    for line in done.stdout.splitlines():
        for pid in re.findall(r"pid=(\d+)", line):
            counts[int(pid)] = counts.get(int(pid), 0) + 1
    return counts


def _workers(service: Service) -> list[int]:
    children = Path(f"/proc/{service.process.pid}/task/{service.process.pid}/children")
    return [int(pid) for pid in children.read_text().split()]


def test_each_worker_listens_on_its_own_socket_and_takes_connections(
    tmp_path: Path, service_factory: list[Service]
) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    filled_store(db)
    service = start_proxied(tmp_path, db, f"workers = {WORKERS}\nrate_limit = 0")
    service_factory.append(service)
    assert len(_listening(service.port)) == WORKERS
    workers = _workers(service)
    assert len(workers) == WORKERS
    connections = []
    try:
        for _ in range(60):  # each from its own source port: the kernel hashes them
            connections.append(socket.create_connection(("127.0.0.1", service.port)))
        time.sleep(0.2)  # let every worker's loop accept what is queued for it
        counts = _holders(service.port)
    finally:
        for conn in connections:
            conn.close()
    assert set(counts) <= set(workers) | {service.process.pid}
    assert all(counts.get(pid, 0) > 0 for pid in workers), counts


def test_a_replaced_worker_serves_on_the_same_sockets(
    tmp_path: Path, service_factory: list[Service]
) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    filled_store(db)
    service = start_proxied(tmp_path, db, "workers = 2\nrate_limit = 0")
    service_factory.append(service)
    before = _listening(service.port)
    victim = _workers(service)[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        workers = _workers(service)
        if victim not in workers and len(workers) == 2 and service.health().get("ready"):
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"worker {victim} was not replaced: {_workers(service)}")
    assert len(_listening(service.port)) == 2
    assert _listening(service.port) == before  # the very same sockets, queues and all
    for _ in range(10):
        answer = request(service.port, "GET", "/latest/meta-data/instance-id", proxied(WEB01))
        assert answer.status == 200
