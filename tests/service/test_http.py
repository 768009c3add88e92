"""The service over real HTTP on loopback: paths, methods, statuses, passwords, tokens.

Callers come through a proxy listener (Neutron's signed headers) so that every server of
the OpenStack dump can be asked for from this machine, through an address listener on a
loopback network (the client sends from the guest's own 127.x address), and through a
per-server channel. The expected bodies come from the documents the tree builds, whose
bytes are checked against Nova's own app in test_nova_parity.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from guestmeta.documents import DocumentOptions, service_tree, versions
from guestmeta.model import Topology
from guestmeta.service.identity import sign
from tests.service.conftest import (
    PROXY_SECRET as SECRET,
)
from tests.service.conftest import (
    Service,
    filled_store,
    free_port,
    request,
    start,
    stop,
)

WEB01 = "7990f02f-b7a4-5e19-a54a-3db5d9dd5390"
WEB02 = "b4d31cfb-0799-5494-887c-f31e5bf2fbb6"
LB02 = "6f7ea8ec-9a3c-50db-bcf1-f1563b1948ca"  # no ports: no network_data.json
TENANT = "8d1a5e0c2f4b4e6a9c3d7b5f1e2a4c60"


def proxied(instance: str, tenant: str = TENANT, secret: str = SECRET) -> dict[str, str]:
    return {
        "X-Instance-ID": instance,
        "X-Tenant-ID": tenant,
        "X-Instance-ID-Signature": sign(secret, instance),
    }


class Running:
    def __init__(self, service: Service, topology: Topology, channel: int, address: int) -> None:
        self.service = service
        self.topology = topology
        self.channel = channel
        self.address = address  # a listener that identifies callers by source address

    def ask(self, method: str, path: str, server: str = WEB01, **kw: object):  # type: ignore[no-untyped-def]
        headers = {**proxied(server), **kw.pop("headers", {})}  # type: ignore[dict-item]
        return request(self.service.port, method, path, headers=headers, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp("serve")
    db = f"sqlite:///{tmp / 'store.db'}"
    topology = filled_store(db)
    port, channel, address, admin = free_port(), free_port(), free_port(), free_port()
    config = f"""
proxy_shared_secret = "{SECRET}"
rate_limit = 0
[[listen]]
address = "127.0.0.1:{port}"
mode = "proxy"
[[listen]]
address = "127.0.0.1:{channel}"
server = "web-02"
[[listen]]
address = "127.0.0.1:{address}"
"""
    service = start(tmp, db, config, port=port, admin=admin)
    try:
        yield Running(service, topology, channel, address)
    finally:
        stop(service)


def expected(running: Running, server: str, path: str) -> bytes:
    tree = service_tree(running.topology, server, DocumentOptions())
    return tree[path].body


def test_root_lists_the_ec2_versions_then_latest_without_asking_who_calls(running: Running) -> None:
    answer = request(running.service.port, "GET", "/")
    assert answer.status == 200
    assert answer.body.decode().split("\n") == [*versions.EC2_VERSIONS, "latest"]
    assert answer.headers["content-type"] == "text/plain; charset=UTF-8"


def test_every_path_of_the_tree_is_served_with_its_bytes_and_type(running: Running) -> None:
    tree = service_tree(running.topology, WEB01, DocumentOptions())
    assert len(tree) > 100
    for path, document in tree.items():
        answer = running.ask("GET", f"/{path}")
        assert answer.status == 200, path
        assert answer.headers["content-type"] == document.content_type, path
        if document.seed_at is None:
            assert answer.body == document.body, path
        else:
            assert len(answer.body) == len(document.body), path
        # A trailing slash does not matter.
        if path:
            assert running.ask("GET", f"/{path}/").status == 200


def test_random_seed_is_fresh_on_every_request_and_valid_base64(running: Running) -> None:
    import json

    seeds = []
    for _ in range(3):
        answer = running.ask("GET", "/openstack/latest/meta_data.json")
        seed = json.loads(answer.body)["random_seed"]
        assert len(base64.b64decode(seed, validate=True)) == 512
        seeds.append(seed)
    assert len(set(seeds)) == 3


def test_head_answers_like_get_without_a_body(running: Running) -> None:
    get = running.ask("GET", "/openstack/latest/network_data.json")
    head = running.ask("HEAD", "/openstack/latest/network_data.json")
    assert head.status == 200 and head.body == b""
    assert head.headers["content-length"] == get.headers["content-length"]


def test_a_server_without_ports_has_no_network_data(running: Running) -> None:
    assert running.ask("GET", "/openstack/latest/network_data.json", LB02).status == 404
    listing = running.ask("GET", "/openstack/latest", LB02).body.decode().split("\n")
    assert "network_data.json" not in listing


@pytest.mark.parametrize(
    "path",
    [
        "/openstack/../openstack/latest/meta_data.json",
        "/openstack/latest/%2e%2e/latest/meta_data.json",
        "/openstack/latest/..%2flatest/meta_data.json",
        "/meta-data/",
        "/openstack/1999-01-01/meta_data.json",
        "/openstack/latest/nothing",
        "/latest/meta-data/nothing",
        "/openstack/latest/meta_data.json%00",
    ],
)
def test_unknown_paths_and_traversal_are_404(running: Running, path: str) -> None:
    assert running.ask("GET", path).status == 404


@pytest.mark.parametrize("method", ["DELETE", "PATCH", "OPTIONS", "TRACE", "PUT", "POST"])
def test_other_methods_are_405(running: Running, method: str) -> None:
    answer = running.ask(method, "/openstack/latest/meta_data.json")
    assert answer.status == 405
    assert answer.headers["allow"] == "GET, HEAD"


def test_oversized_request_headers_are_refused(running: Running) -> None:
    answer = running.ask(
        "GET", "/openstack/latest/meta_data.json", headers={"X-Big": "a" * 200_000}
    )
    assert answer.status in (400, 431)


def test_proxy_headers_get_novas_statuses_and_leak_nothing(running: Running) -> None:
    port = running.service.port
    path = "/openstack/latest/meta_data.json"
    full = proxied(WEB01)
    # Answered first, so the checks below also hold once web-01's signature is cached.
    assert request(port, "GET", path, headers=full).status == 200
    missing = {k: v for k, v in full.items() if k != "X-Tenant-ID"}
    assert request(port, "GET", path, headers=missing).status == 400
    assert request(port, "GET", path).status == 400
    forged = {**full, "X-Instance-ID-Signature": sign("guess", WEB01)}
    assert request(port, "GET", path, headers=forged).status == 403
    other = {**full, "X-Instance-ID": WEB02}  # web-01's signature, web-02's id
    assert request(port, "GET", path, headers=other).status == 403
    tenant = proxied(WEB01, tenant="someone-else")
    assert request(port, "GET", path, headers=tenant).status == 404
    unknown = proxied("00000000-0000-0000-0000-000000000000")
    assert request(port, "GET", path, headers=unknown).status == 404
    unknown_forged = proxied("00000000-0000-0000-0000-000000000000", secret="guess")
    assert request(port, "GET", path, headers=unknown_forged).status == 403  # signature first
    for answer in (request(port, "GET", path, headers=h) for h in (forged, other, tenant)):
        assert WEB01.encode() not in answer.body and WEB02.encode() not in answer.body


def test_a_channel_is_its_server_whatever_the_headers_say(running: Running) -> None:
    answer = request(
        running.channel, "GET", "/openstack/latest/meta_data.json", headers=proxied(WEB01)
    )
    assert answer.status == 200
    assert b'"uuid": "' + WEB02.encode() + b'"' in answer.body


def test_x_forwarded_for_from_an_untrusted_peer_names_nobody(running: Running) -> None:
    # 127.0.0.1 is not in trusted_proxies (the HTTP server must not trust it either), so
    # the header is ignored and the caller is the loopback address, which no server has.
    web01 = [ip.ip_address for p in running.topology.index.all_ports(WEB01) for ip in p.fixed_ips]
    assert web01
    path = "/openstack/latest/meta_data.json"
    for forwarded in (web01[0], f"{web01[0]}, 127.0.0.1"):
        answer = request(running.address, "GET", path, headers={"X-Forwarded-For": forwarded})
        assert answer.status == 404, forwarded
        assert WEB01.encode() not in answer.body


def test_password_is_posted_once_then_409_and_cleared_by_the_operator(running: Running) -> None:
    path = "/openstack/latest/password"
    server = WEB02
    assert running.ask("GET", path, server).body == b""
    assert running.ask("POST", path, server, body=b"x" * 1021).status == 400
    assert running.ask("POST", path, server, body=b"encrypted==").status == 200
    assert running.ask("GET", "/openstack/2013-04-04/password", server).body == b"encrypted=="
    assert running.ask("POST", path, server, body=b"again").status == 409
    assert running.ask("GET", path, WEB01).body == b""  # nothing of another server
    assert running.ask("GET", "/openstack/2012-08-10/password", server).status == 404
    assert running.ask("DELETE", path, server).status == 405
    import subprocess
    import sys

    guestmeta = str(Path(sys.executable).with_name("guestmeta"))
    cleared = subprocess.run(
        [guestmeta, "--db", running.service.db, "password", "clear", "web-02"],
        capture_output=True,
        text=True,
    )
    assert cleared.returncode == 0, cleared.stderr
    assert running.ask("GET", path, server).body == b""
    assert running.ask("POST", path, server, body=b"new").status == 200


def test_imdsv2_tokens_are_bound_to_their_caller(running: Running) -> None:
    ttl = {"X-aws-ec2-metadata-token-ttl-seconds": "60"}
    answer = running.ask("PUT", "/latest/api/token", headers=ttl)
    assert answer.status == 200
    assert answer.headers["x-aws-ec2-metadata-token-ttl-seconds"] == "60"
    token = answer.body.decode()
    good = {"X-aws-ec2-metadata-token": token}
    assert running.ask("GET", "/latest/meta-data/instance-id", headers=good).status == 200
    # Another server presenting web-01's token is refused.
    assert running.ask("GET", "/latest/meta-data/instance-id", WEB02, headers=good).status == 401
    bad = {"X-aws-ec2-metadata-token": token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]}
    assert running.ask("GET", "/latest/meta-data/instance-id", headers=bad).status == 401
    for value in ("0", "21601", "abc", ""):
        h = {"X-aws-ec2-metadata-token-ttl-seconds": value}
        assert running.ask("PUT", "/latest/api/token", headers=h).status == 400, value
    assert running.ask("PUT", "/latest/api/token").status == 400
    through_proxy = {**ttl, "X-Forwarded-For": "10.0.0.9"}
    assert running.ask("PUT", "/latest/api/token", headers=through_proxy).status == 403
    assert running.ask("GET", "/latest/api/token").status == 405


def test_metrics_and_health_on_the_admin_listener(running: Running) -> None:
    running.ask("GET", "/openstack/latest/meta_data.json")
    request(running.service.port, "GET", "/openstack/latest/meta_data.json")  # 400
    health = running.service.health()
    assert health["ready"] is True and health["alive"] == 1
    # Workers hand their counts over once a second.
    deadline = time.monotonic() + 5
    while True:
        text = request(running.service.admin, "GET", "/metrics").body.decode()
        if 'identity_failures_total{status="400"}' in text or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert 'guestmeta_metadata_requests_total{status="200"}' in text
    assert 'guestmeta_metadata_identity_failures_total{status="400"}' in text
    assert "guestmeta_metadata_request_seconds_bucket" in text
    revision = [
        line for line in text.splitlines() if line.startswith("guestmeta_metadata_revision")
    ]
    assert revision and float(revision[0].split()[-1]) >= 1


def test_the_access_log_is_one_json_object_per_request(running: Running) -> None:
    running.ask("GET", "/openstack/latest/vendor_data2.json")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = running.service.access_lines()
        hits = [line for line in lines if line["path"] == "/openstack/latest/vendor_data2.json"]
        if hits:
            break
        time.sleep(0.05)
    assert hits[-1]["status"] == 200 and hits[-1]["server"] == WEB01
    assert hits[-1]["method"] == "GET" and isinstance(hits[-1]["ms"], float)


def test_the_ec2_tree_also_answers_under_ec2_as_novas_does(running: Running) -> None:
    plain = running.ask("GET", "/2009-04-04/meta-data/instance-id")
    aliased = running.ask("GET", "/ec2/2009-04-04/meta-data/instance-id")
    assert plain.status == aliased.status == 200
    assert aliased.body == plain.body
    assert running.ask("GET", "/ec2").body == request(running.service.port, "GET", "/").body
