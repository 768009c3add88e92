"""An EC2 token answer leaves with an IP TTL of 1, so it never crosses a router.

Three namespaces the test creates: a guest G, a router R and the host H where the service
runs. G reaches H only through R, which forwards (and so decrements the TTL). A metadata
GET crosses R both ways; the answer to ``PUT /latest/api/token`` is dropped by R, so the
guest behind the router never gets a token, as AWS's hop limit of 1 intends. The same
request from a guest on H's own link (the loopback variant in test_netns) gets its token.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import pytest

from tests.service.conftest import Service, free_port, request, start, stop
from tests.service.test_netns import fill, ip, netns_usable, topology_text

GUEST, ROUTER_G, ROUTER_H, HOST, PORT = "10.98.0.5", "10.98.0.1", "10.97.0.2", "10.97.0.1", 8775


@pytest.fixture(scope="module")
def routed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, str]]:
    reason = netns_usable()
    if reason:
        pytest.fail(reason)
    tag = uuid.uuid4().hex[:8]
    guest, router, host = (f"gmhop-{tag}-{role}" for role in ("g", "r", "h"))
    created: list[str] = []
    service = None
    try:
        for name in (guest, router, host):
            ip("netns", "add", name)
            created.append(name)
            ip("link", "set", "lo", "up", netns=name)
        ip("link", "add", "rg", "type", "veth", "peer", "name", "g0", "netns", guest, netns=router)
        ip("link", "add", "rh", "type", "veth", "peer", "name", "h0", "netns", host, netns=router)
        for ns, dev, address in (
            (guest, "g0", f"{GUEST}/24"),
            (router, "rg", f"{ROUTER_G}/24"),
            (router, "rh", f"{ROUTER_H}/24"),
            (host, "h0", f"{HOST}/24"),
        ):
            ip("addr", "add", address, "dev", dev, netns=ns)
            ip("link", "set", dev, "up", netns=ns)
        ip("route", "add", "default", "via", ROUTER_G, netns=guest)
        ip("route", "add", "10.98.0.0/24", "via", ROUTER_H, netns=host)
        subprocess.run(
            ["ip", "netns", "exec", router, "sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True
        )
        tmp = tmp_path_factory.mktemp("hop")
        db = f"sqlite:///{tmp / 'store.db'}"
        fill(db, topology_text("hop", GUEST, "10.98.0.7", "10.98.0.0/24"))
        config = f'rate_limit = 0\n[[listen]]\naddress = "{HOST}:{PORT}"\nnetwork = "hop-a"\n'
        service = start(tmp, db, config, port=PORT, admin=free_port(), netns=host)
        yield service, guest
    finally:
        if service is not None:
            stop(service)
        for name in reversed(created):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_a_token_answer_does_not_cross_a_router_but_metadata_does(
    routed: tuple[Service, str],
) -> None:
    _service, guest = routed
    meta = request(PORT, "GET", "/latest/meta-data/instance-id", host=HOST, netns=guest)
    assert meta.status == 200
    ttl = {"X-aws-ec2-metadata-token-ttl-seconds": "60"}
    with pytest.raises(ConnectionError, match="timed out"):
        request(PORT, "PUT", "/latest/api/token", headers=ttl, host=HOST, netns=guest, timeout=2)
    # The connection's TTL is restored for what follows: metadata still crosses.
    again = request(PORT, "GET", "/latest/meta-data/instance-id", host=HOST, netns=guest)
    assert again.status == 200


# Every spelling the service takes for the token path; a check on the raw URL once let
# all but the first through the router with a token.
SPELLINGS = (
    "/latest/api/token/",
    "/ec2/latest/api/token",
    "//latest/api/token",
    "/latest//api/token",
    "/latest/api/t%6Fken",
)


@pytest.mark.parametrize("path", SPELLINGS)
def test_no_spelling_of_the_token_path_crosses_a_router(
    routed: tuple[Service, str], path: str
) -> None:
    _service, guest = routed
    ttl = {"X-aws-ec2-metadata-token-ttl-seconds": "60"}
    with pytest.raises(ConnectionError, match="timed out"):
        request(PORT, "PUT", path, headers=ttl, host=HOST, netns=guest, timeout=2)
