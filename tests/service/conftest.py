"""A real ``guestmeta serve`` for the HTTP tests: a subprocess on loopback ports, stopped by PID.

The service is started exactly as an operator starts it (the command, a TOML file, the
store URL), and the tests talk to it over real HTTP with the standard library's client.
Both may run inside a network namespace (``netns``): the service under
``ip netns exec``, the client as scripts/http_request.py there.
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
CLIENT = Path(__file__).with_name("scripts") / "http_request.py"


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
    netns: str | None = None,
    timeout: float = 10,
) -> Answer:
    """One request on a fresh connection (``source``: the address to send from)."""
    if netns is not None:
        return _request_in(netns, port, method, path, headers, body, host, source, timeout)
    conn = http.client.HTTPConnection(
        host, port, timeout=timeout, source_address=(source, 0) if source else None
    )
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()


def _request_in(
    netns: str,
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None,
    body: bytes | None,
    host: str,
    source: str | None,
    timeout: float = 10,
) -> Answer:
    """The same request sent from inside network namespace ``netns``."""
    ask = {
        "host": host,
        "port": port,
        "method": method,
        "path": path,
        "headers": headers or {},
        "source": source,
        "body": body.decode("latin-1") if body is not None else None,
        "timeout": timeout,
    }
    done = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, str(CLIENT), json.dumps(ask)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if done.returncode != 0:
        raise AssertionError(f"client in {netns} failed: {done.stderr}")
    answer = json.loads(done.stdout)
    if "error" in answer:
        raise ConnectionError(f"{netns}: {answer['error']}")
    return Answer(answer["status"], answer["headers"], answer["body"].encode("latin-1"))


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    port: int
    admin: int
    log: Path
    db: str
    config: Path
    extra_ports: dict[str, int] = field(default_factory=dict)
    netns: str | None = None

    def get(self, path: str, **kwargs: object) -> Answer:
        return request(self.port, "GET", path, **kwargs)  # type: ignore[arg-type]

    def health(self) -> dict[str, object]:
        answer = request(self.admin, "GET", "/healthz", netns=self.netns)
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
    netns: str | None = None,
) -> Service:
    """``guestmeta serve`` with ``config`` (plus the admin listener), ready when it returns."""
    path = tmp / f"serve-{port}.toml"
    path.write_text(f'admin_listen = "127.0.0.1:{admin}"\n' + config)
    log = tmp / f"serve-{port}.log"
    guestmeta = str(Path(sys.executable).with_name("guestmeta"))
    command = [guestmeta, "--db", db, "serve", "--config", str(path)]
    if netns is not None:  # ip netns exec execs the command: the PID stays the service's
        command = ["ip", "netns", "exec", netns, *command]
    process = subprocess.Popen(
        command,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=env or environment(),
        start_new_session=True,
    )
    service = Service(process, port, admin, log, db, path, netns=netns)
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


PROXY_SECRET = "s3cret-proxy"


def start_proxied(
    tmp: Path, db: str, settings: str = "rate_limit = 0\naccess_log = false"
) -> Service:
    """The service with one proxy listener (Neutron's signed headers name the caller), so
    that a test on this machine can ask as any server of the store."""
    port = free_port()
    config = (
        f'proxy_shared_secret = "{PROXY_SECRET}"\n{settings}\n'
        f'[[listen]]\naddress = "127.0.0.1:{port}"\nmode = "proxy"\n'
    )
    return start(tmp, db, config, port=port, admin=free_port())


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
