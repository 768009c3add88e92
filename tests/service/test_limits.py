"""Per-server rate limits, required tokens, and several workers behaving as one service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service.conftest import Service, filled_store, request, start_proxied, stop
from tests.service.test_http import WEB01, WEB02, proxied

PATH = "/openstack/latest/meta_data.json"


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """Two workers, a low rate limit, and EC2 tokens required."""
    tmp = tmp_path_factory.mktemp("limits")
    db = f"sqlite:///{tmp / 'store.db'}"
    filled_store(db)
    settings = "workers = 2\nrate_limit = 2\nrate_burst = 20\nrequire_tokens = true\n"
    service = start_proxied(tmp, db, settings + "access_log = false")
    try:
        yield service
    finally:
        stop(service)


def test_a_caller_over_its_rate_gets_429_and_others_do_not(strict: Service) -> None:
    statuses = [request(strict.port, "GET", PATH, headers=proxied(WEB01)).status for _ in range(80)]
    assert set(statuses) == {200, 429}
    # Each worker holds its own buckets: at most burst + a little refill per worker.
    assert statuses.count(200) <= 2 * 20 + 12
    limited = request(strict.port, "GET", PATH, headers=proxied(WEB01))
    if limited.status == 429:
        assert limited.headers["retry-after"] == "1"
    assert request(strict.port, "GET", PATH, headers=proxied(WEB02)).status == 200


def test_ec2_paths_need_a_token_when_required_and_any_worker_accepts_it(strict: Service) -> None:
    path = "/2009-04-04/meta-data/instance-id"
    server = "be74981b-498e-5635-9a1e-ed9af6fb7e09"  # web-06: not limited by the test above
    assert request(strict.port, "GET", path, headers=proxied(server)).status == 401
    ttl = {"X-aws-ec2-metadata-token-ttl-seconds": "21600"}
    answer = request(strict.port, "PUT", "/latest/api/token", headers={**proxied(server), **ttl})
    assert answer.status == 200
    token = {"X-aws-ec2-metadata-token": answer.body.decode()}
    # New connections: the kernel spreads them over both workers.
    statuses = {
        request(strict.port, "GET", path, headers={**proxied(server), **token}).status
        for _ in range(4)
    }
    assert statuses == {200}
    # OpenStack paths never need one.
    other = "ca5084d5-3f0a-5b9a-a5c5-d5a0b3c53202"  # web-07
    assert request(strict.port, "GET", PATH, headers=proxied(other)).status == 200


def test_health_counts_both_workers(strict: Service) -> None:
    health = strict.health()
    assert health["workers"] == 2 and health["alive"] == 2 and health["ready"] is True


def test_a_worker_that_dies_is_replaced(strict: Service) -> None:
    import os
    import signal
    import time

    children = Path(f"/proc/{strict.process.pid}/task/{strict.process.pid}/children")
    workers = [int(pid) for pid in children.read_text().split()]
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + 20
    while True:
        now = [int(pid) for pid in children.read_text().split()]
        if len(now) == 2 and workers[0] not in now and strict.health()["ready"]:
            break
        assert time.monotonic() < deadline, strict.health()
        time.sleep(0.1)
    assert request(strict.port, "GET", "/").status == 200
