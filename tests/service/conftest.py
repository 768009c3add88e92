"""A real ``guestmeta serve`` for the HTTP tests: a subprocess on loopback ports, stopped by PID.

The service is started exactly as an operator starts it (the command, a TOML file, the
store URL), and the tests talk to it over real HTTP with the standard library's client.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from guestmeta.apply import load_document, plan_apply
from guestmeta.model import Topology
from guestmeta.store import Store
from tests.conftest import DATA

OPENSTACK = sorted((DATA / "openstack").glob("*.json"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


def request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    host: str = "127.0.0.1",
    source: str | None = None,
) -> Answer:
    """One request on a fresh connection (``source``: the address to send from)."""
    conn = http.client.HTTPConnection(
        host, port, timeout=10, source_address=(source, 0) if source else None
    )
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    port: int
    admin: int
    log: Path
    db: str
    config: Path
    extra_ports: dict[str, int] = field(default_factory=dict)

    def get(self, path: str, **kwargs: object) -> Answer:
        return request(self.port, "GET", path, **kwargs)  # type: ignore[arg-type]

    def health(self) -> dict[str, object]:
        answer = request(self.admin, "GET", "/healthz")
        return json.loads(answer.body)  # type: ignore[no-any-return]

    def access_lines(self) -> list[dict[str, object]]:
        lines = self.log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("GUESTMETA_METADATA_PROXY_SHARED_SECRET", None)
    return env


def start(
    tmp: Path,
    db: str,
    config: str,
    *,
    port: int,
    admin: int,
    env: dict[str, str] | None = None,
    wait: bool = True,
) -> Service:
    path = tmp / f"serve-{port}.toml"
    path.write_text(f'admin_listen = "127.0.0.1:{admin}"\n' + config)
    log = tmp / f"serve-{port}.log"
    guestmeta = str(Path(sys.executable).with_name("guestmeta"))
    command = [guestmeta, "--db", db, "serve", "--config", str(path)]
    process = subprocess.Popen(
        command,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=env or environment(),
        start_new_session=True,
    )
    service = Service(process, port, admin, log, db, path)
    if wait:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(f"guestmeta serve exited: {log.read_text()}")
            try:
                if service.health().get("ready"):
                    break
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                stop(service)
                raise AssertionError(f"guestmeta serve not ready: {log.read_text()}")
            time.sleep(0.05)
    return service


def stop(service: Service) -> None:
    if service.process.poll() is None:
        os.killpg(service.process.pid, signal.SIGTERM)
        try:
            service.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait()


def openstack_topology() -> Topology:
    documents = [load_document(str(path)) for path in OPENSTACK]
    return plan_apply(Topology(), documents).topology


def filled_store(url: str) -> Topology:
    """The OpenStack API dump of tests/data/openstack/ applied to the store at ``url``."""
    from guestmeta.model.changes import Plan

    topology = openstack_topology()
    with Store(url) as store:
        store.change(lambda current: Plan.between(current, topology))
    return topology


@pytest.fixture
def service_factory(tmp_path: Path) -> Iterator[list[Service]]:
    started: list[Service] = []
    yield started
    for service in started:
        stop(service)
