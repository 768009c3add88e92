"""Our service over real HTTP against Nova's own metadata app, path by path.

For every server of the OpenStack dump (tests/data/openstack), Nova's WSGI app is crawled
from its own listings; each path it answered is then asked of ``guestmeta serve`` on
loopback (through a proxy listener, so any server can be asked for from here), and the
status, content type and bytes must be Nova's, but for the deliberate differences that
tests/documents/test_nova_parity.py names and asserts one by one (their rules are
reused here, so the two tests cannot disagree on what a difference is). The password is
checked on its own: Nova serves an empty ``text/html`` body when unset, ours an empty
``text/plain`` one.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator

import pytest

from guestmeta.model import Topology
from tests.consumers.nova_metadata import Answer, nova_crawl
from tests.documents.test_nova_parity import (
    Differences,
    expected_differences,
    expected_http,
    listing_paths,
    ours_http,
    unseeded,
)
from tests.service.conftest import Service, filled_store, start_proxied, stop
from tests.service.test_http import proxied

pytestmark = pytest.mark.consumers("nova")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, Topology]]:
    tmp = tmp_path_factory.mktemp("parity")
    db = f"sqlite:///{tmp / 'store.db'}"
    topology = filled_store(db)
    service = start_proxied(tmp, db)
    try:
        yield service, topology
    finally:
        stop(service)


def _fetch(port: int, server_id: str, paths: list[str]) -> dict[str, tuple[int, str, bytes]]:
    """Every path on one kept-alive connection, as a guest's crawler asks."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    out = {}
    try:
        for path in paths:
            conn.request("GET", f"/{path}", headers=proxied(server_id))
            response = conn.getresponse()
            out[path] = (response.status, response.getheader("content-type", ""), response.read())
    finally:
        conn.close()
    return out


def test_every_path_nova_serves_is_served_over_http_with_novas_bytes(
    served: tuple[Service, Topology],
) -> None:
    service, topology = served
    server_ids = sorted(topology.servers)
    crawled = nova_crawl([(topology, sid) for sid in server_ids])
    for server_id, (answers, _drive) in zip(server_ids, crawled, strict=True):
        answers_by_path: dict[str, Answer] = answers
        ours = {p: b for p, (_, _, b) in ours_http(topology, server_id).items()}
        differences = Differences(topology, server_id, ours)
        expected = expected_http(answers_by_path, differences, listing_paths(answers_by_path))
        got = _fetch(service.port, server_id, sorted(expected))
        for path, (status, content_type, body) in expected.items():
            seen = got[path]
            assert (seen[0], seen[1], unseeded(seen[2])) == (status, content_type, body), (
                server_id,
                path,
            )
        assert differences.applied == expected_differences(topology, server_id, http=True)
        # The password: listed by both; ours empty text until the guest posts one.
        password = _fetch(service.port, server_id, ["openstack/latest/password"])
        assert password["openstack/latest/password"][0] == 200
        assert password["openstack/latest/password"][2] == b""
    assert len(server_ids) > 30


def test_unknown_paths_are_404(served: tuple[Service, Topology]) -> None:
    service, topology = served
    server_id = sorted(topology.servers)[0]
    paths = ["openstack/latest/nothing", "2009-04-04/meta-data/nothing", "nothing"]
    got = _fetch(service.port, server_id, paths)
    assert {p: s for p, (s, _, _) in got.items()} == dict.fromkeys(paths, 404)
