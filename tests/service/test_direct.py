"""The direct way out against uvicorn's ASGI way, over raw sockets.

A ``GET`` or ``HEAD`` is answered by the protocol (src/guestmeta/service/protocol.py) as
soon as its head is parsed; everything else, and any path with a ``%`` escape, goes
through uvicorn's ASGI cycle. Guests cannot tell which way answered, so these tests ask
the same thing both ways and compare, and check the HTTP framing the direct writer now
owns: HEAD without a body, ``date``, pipelined answers in order, keep-alive and its
timeout, ``Connection: close``, heads that arrive in pieces and GETs with a body.

The tests read the bytes off the socket themselves: http.client drops what follows a
HEAD's head, forgives a missing ``date`` and cannot pipeline.

Which way answered shows in the order of the headers: uvicorn's ASGI cycle writes its
default headers (``date``) before the app's, the direct writer after them.
:func:`test_the_header_order_tells_which_way_answered` checks that marker with requests
that only one way can take, so the other tests can assert which way they exercised.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import socket
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.service.conftest import Service, filled_store, request, start_proxied
from tests.service.test_http import WEB01, Running, proxied, running

__all__ = ["running"]  # the service of test_http, started again for this module

KEEP_ALIVE = 5.0  # timeout_keep_alive in src/guestmeta/service/server.py
HOSTNAME = b"web-01.novalocal"  # servers.json: web-01, and Nova's dhcp_domain "novalocal"
INSTANCE_ID = b"i-0000002a"  # servers.json: instance-0000002a
NOT_FOUND = b"not found\n"
IMF_FIXDATE = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")


@dataclass
class Raw:
    """One answer as it came off the wire: header names lowercased, in the order sent."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key == name]
        assert len(values) <= 1, f"{name} sent {len(values)} times: {self.headers}"
        return values[0] if values else None

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.headers]

    @property
    def way(self) -> str:
        """Which way wrote it: "asgi" when ``date`` leads the headers, "direct" when it ends
        them (``connection``, which either way may add last, aside)."""
        names = [name for name in self.names if name != "connection"]
        if names[0] == "date":
            return "asgi"
        if names[-1] == "date":
            return "direct"
        raise AssertionError(f"no way tells from the header order {names}")


class Wire:
    """One TCP connection to the service, read and written by hand."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.received = b""  # read, not yet taken by an answer

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError(f"closed by the service; unparsed: {self.received!r}")
        self.received += chunk

    def answer(self, *, head: bool = False) -> Raw:
        """The next answer; ``head``: it answers a HEAD, so no body follows its head."""
        while b"\r\n\r\n" not in self.received:
            self._more()
        top, _, self.received = self.received.partition(b"\r\n\r\n")
        status_line, *lines = top.decode("latin-1").split("\r\n")
        version, status, _reason = status_line.split(" ", 2)
        assert version == "HTTP/1.1", status_line
        headers = []
        for line in lines:
            name, _, value = line.partition(":")
            headers.append((name.lower(), value.strip()))
        answer = Raw(int(status), headers, b"")
        assert answer.header("transfer-encoding") is None, headers
        length = int(answer.header("content-length") or "-1")
        assert length >= 0, f"no content-length: {headers}"
        if not head:
            while len(self.received) < length:
                self._more()
            answer.body, self.received = self.received[:length], self.received[length:]
        return answer

    def closed_within(self, limit: float) -> float:
        """Seconds until the service closes the connection (at most ``limit``), having sent
        nothing more."""
        started = time.monotonic()
        self.sock.settimeout(limit)
        rest = self.received
        while chunk := self.sock.recv(65536):
            rest += chunk
        assert rest == b"", f"sent after its last answer: {rest!r}"
        return time.monotonic() - started


def ask(
    path: str,
    method: str = "GET",
    *,
    version: str = "1.1",
    headers: dict[str, str] | None = None,
    server: str | None = WEB01,
    body: bytes = b"",
) -> bytes:
    """A request's bytes; as ``server`` through the proxy listener's signed headers."""
    lines = [f"{method} {path} HTTP/{version}", "Host: 169.254.169.254"]
    fields = {**(proxied(server) if server else {}), **(headers or {})}
    lines += [f"{name}: {value}" for name, value in fields.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.fixture(scope="module")
def served(running: Running) -> Running:
    """The service once its answers carry ``date``.

    uvicorn's default headers (``date``) are first set on the worker's tenth tick, a
    second after it starts (test_the_first_answers_after_a_start_carry_a_date): the tests
    that read ``date`` or tell the way by it start after that, polling for it.
    """
    deadline = time.monotonic() + 10
    while "date" not in request(running.service.port, "GET", "/").headers:
        assert time.monotonic() < deadline, "no date header 10 s after the service started"
        time.sleep(0.05)
    return running


def test_the_header_order_tells_which_way_answered(served: Running) -> None:
    """The marker the other tests rely on, from requests only one way can take: a PUT (a
    token) and a password GET go the ASGI way (answer_now refuses them), and a GET of
    the root, decided without a caller, has no reason not to go direct."""
    ttl = {"X-aws-ec2-metadata-token-ttl-seconds": "60"}
    with Wire(served.service.port) as wire:
        wire.send(ask("/latest/api/token", "PUT", headers=ttl))
        token = wire.answer()
        wire.send(ask("/openstack/latest/password"))
        password = wire.answer()
        wire.send(ask("/", server=None))
        root = wire.answer()
    assert (token.status, password.status, root.status) == (200, 200, 200)
    assert token.names[0] == password.names[0] == "date"
    assert token.way == password.way == "asgi"
    assert root.names[-1] == "date" and root.way == "direct"


# (what, path, the same path with one character escaped, expected status, signed headers)
SAME = [
    ("meta_data", "/openstack/latest/meta_data.json", "/openstack/latest/meta%5Fdata.json", 200),
    (
        "network_data",
        "/openstack/latest/network_data.json",
        "/openstack/latest/network%5Fdata.json",
        200,
    ),
    ("listing", "/openstack/latest", "/openstack/l%61test", 200),
    ("ec2 listing", "/latest/meta-data/", "/latest/meta%2Ddata/", 200),
    ("not found", "/openstack/latest/nothing", "/openstack/latest/n%6Fthing", 404),
    ("ec2", "/latest/meta-data/hostname", "/latest/meta%2Ddata/hostname", 200),
    # The token path under Nova's /ec2 alias: PUT only, so a GET is 405 with allow. (The
    # plain /latest/api/token always goes the ASGI way, for its hop limit.)
    ("method", "/ec2/latest/api/token", "/ec2/latest/api/t%6Fken", 405),
]


@pytest.mark.parametrize(("what", "path", "escaped", "status"), SAME, ids=[s[0] for s in SAME])
@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
def test_the_direct_and_the_asgi_way_give_the_same_answer(
    served: Running, what: str, path: str, escaped: str, status: int, signed: bool
) -> None:
    """Unsigned, the caller is refused (400) before any path is looked up, both ways; a
    method the path does not take is refused (405) before the caller is asked for."""
    assert escaped != path and unquote(escaped) == path  # %5F is "_", %61 "a", %6F "o", %2D "-"
    server = WEB01 if signed else None
    with Wire(served.service.port) as wire:
        wire.send(ask(path, server=server))
        direct = wire.answer()
        wire.send(ask(escaped, server=server))
        asgi = wire.answer()
    assert (direct.way, asgi.way) == ("direct", "asgi")
    assert direct.status == asgi.status == (status if signed or status == 405 else 400)
    for name in ("content-type", "content-length", "allow"):
        assert direct.header(name) == asgi.header(name), name
    assert direct.header("content-length") == str(len(direct.body))
    if status == 405:
        assert direct.header("allow") == "PUT"
    if what == "meta_data" and signed:
        documents = [json.loads(direct.body), json.loads(asgi.body)]
        seeds = [document.pop("random_seed") for document in documents]
        assert all(len(base64.b64decode(seed, validate=True)) == 512 for seed in seeds)
        assert seeds[0] != seeds[1]
        assert documents[0] == documents[1]
        assert documents[0]["uuid"] == WEB01
    else:
        assert direct.body == asgi.body
    if what == "ec2" and signed:
        assert direct.body == HOSTNAME


@pytest.mark.parametrize(
    "path",
    [
        "/openstack/latest/meta_data.json",
        "/latest/meta-data/hostname",
        "/openstack/latest/nothing",
        "/ec2/latest/api/token",  # 405: HEAD is not allowed there either
    ],
)
def test_head_sends_the_headers_of_get_and_not_one_byte_of_body(served: Running, path: str) -> None:
    """The head ends the answer on the wire: the next answer on the connection starts right
    after it, and a HEAD with ``Connection: close`` is followed by the close alone."""
    with Wire(served.service.port) as wire:
        wire.send(ask(path))
        get = wire.answer()
        wire.send(ask(path, "HEAD"))
        head = wire.answer(head=True)
        wire.send(ask("/latest/meta-data/instance-id"))
        after = wire.answer()  # would not parse with a body's bytes before it
    assert head.way == "direct"
    assert head.status == get.status
    assert get.body and head.header("content-length") == str(len(get.body))
    assert [h for h in head.headers if h[0] != "date"] == [h for h in get.headers if h[0] != "date"]
    assert (after.status, after.body) == (200, INSTANCE_ID)
    with Wire(served.service.port) as wire:
        wire.send(ask(path, "HEAD", headers={"Connection": "close"}))
        closing = wire.answer(head=True)
        assert closing.header("connection") == "close"
        assert wire.closed_within(2) < 2  # and nothing came before the close


@pytest.mark.parametrize(
    ("path", "way"),
    [
        ("/openstack/latest/meta_data.json", "direct"),
        ("/openstack/latest/meta%5Fdata.json", "asgi"),
        ("/openstack/latest/nothing", "direct"),
        ("/openstack/latest/n%6Fthing", "asgi"),
        ("/", "direct"),
        ("/%65c2", "asgi"),  # "/ec2", which lists what the root lists
    ],
)
def test_both_ways_send_a_current_date_and_no_server(served: Running, path: str, way: str) -> None:
    """An origin server with a clock must send ``date`` (RFC 9110, 6.6.1), in IMF-fixdate;
    ``server`` would only tell a guest what software to attack."""
    with Wire(served.service.port) as wire:
        wire.send(ask(path))
        answer = wire.answer()
    assert answer.way == way
    date = answer.header("date")
    assert date is not None and IMF_FIXDATE.fullmatch(date), date
    assert abs(parsedate_to_datetime(date).timestamp() - time.time()) < 3
    assert "server" not in answer.names


def test_the_first_answers_after_a_start_carry_a_date(
    tmp_path: Path, service_factory: list[Service]
) -> None:
    """A service of its own: the first second after a start is what is tested."""
    db = f"sqlite:///{tmp_path / 'store.db'}"
    filled_store(db)
    service = start_proxied(tmp_path, db)
    service_factory.append(service)
    answer = request(service.port, "GET", "/latest/meta-data/hostname", headers=proxied(WEB01))
    assert answer.status == 200
    assert "date" in answer.headers


PIPELINES = {
    "all direct": [
        ("GET", "/latest/meta-data/hostname", 200, HOSTNAME),
        ("GET", "/latest/meta-data/instance-id", 200, INSTANCE_ID),
        ("GET", "/latest/meta-data/nothing", 404, NOT_FOUND),
    ],
    "escaped first": [
        ("GET", "/latest/meta%2Ddata/hostname", 200, HOSTNAME),
        ("GET", "/latest/meta-data/instance-id", 200, INSTANCE_ID),
    ],
    # The password is read from the store in a thread: the slowest ASGI answer there is.
    "password first": [
        ("GET", "/openstack/latest/password", 200, b""),
        ("GET", "/latest/meta-data/hostname", 200, HOSTNAME),
        ("GET", "/latest/meta-data/instance-id", 200, INSTANCE_ID),
    ],
    "mixed with head": [
        ("GET", "/latest/meta-data/instance-id", 200, INSTANCE_ID),
        ("HEAD", "/latest/meta-data/hostname", 200, b""),
        ("GET", "/openstack/latest/password", 200, b""),
        ("GET", "/latest/meta-data/nothing", 404, NOT_FOUND),
        ("GET", "/latest/meta-data/hostname", 200, HOSTNAME),
    ],
}


@pytest.mark.parametrize("requests", PIPELINES.values(), ids=PIPELINES.keys())
def test_pipelined_requests_are_answered_in_order(
    served: Running, requests: list[tuple[str, str, int, bytes]]
) -> None:
    """All requests in one write; the answers are told apart by their bodies."""
    with Wire(served.service.port) as wire:
        wire.send(b"".join(ask(path, method) for method, path, _, _ in requests))
        answers = [wire.answer(head=method == "HEAD") for method, _, _, _ in requests]
        assert wire.received == b""
    got = [(answer.status, answer.body) for answer in answers]
    assert got == [(status, body) for _, _, status, body in requests]
    first = requests[0][1]
    if "%" in first or first.endswith("password"):
        assert answers[0].way == "asgi"  # the case is what its name says
    head = [a for a, (method, *_) in zip(answers, requests, strict=True) if method == "HEAD"]
    assert all(a.header("content-length") == str(len(HOSTNAME)) for a in head)


def test_keep_alive_lasts_while_used_and_ends_after_the_timeout(served: Running) -> None:
    """One connection asks every second for 7 s, both ways in turn, longer than the 5 s
    timeout: it stays open, and closes about 5 s after its last answer. Meanwhile another
    connection asks once and is closed about 5 s later. The dates of the answers a second
    apart move on, so the direct writer does not keep a stale date."""
    port = served.service.port
    idle = Wire(port, timeout=KEEP_ALIVE + 5)
    busy = Wire(port, timeout=KEEP_ALIVE + 5)
    with idle, busy:
        idle.send(ask("/latest/meta-data/hostname"))
        assert idle.answer().body == HOSTNAME
        waited: list[float] = []
        watcher = threading.Thread(target=lambda: waited.append(idle.closed_within(15)))
        watcher.start()
        answers = []
        started = time.monotonic()
        for second in range(8):  # at 0, 1, ..., 7 s
            time.sleep(max(0.0, started + second - time.monotonic()))
            path = "/latest/meta-data/instance-id"
            busy.send(ask(path if second % 2 == 0 else path.replace("-id", "%2Did")))
            answers.append(busy.answer())
        last_done = time.monotonic()
        assert [a.body for a in answers] == [INSTANCE_ID] * 8
        assert [a.way for a in answers] == ["direct", "asgi"] * 4
        assert all(a.header("connection") is None for a in answers)
        watcher.join(15)
        assert len(waited) == 1
        after_last = busy.closed_within(KEEP_ALIVE + 5)
    dates = [parsedate_to_datetime(a.header("date") or "").timestamp() for a in answers]
    assert 5 <= dates[-1] - dates[0] <= 9
    assert all(0 <= later - earlier <= 2 for earlier, later in itertools.pairwise(dates))
    assert KEEP_ALIVE - 1 <= waited[0] <= KEEP_ALIVE + 1, waited
    assert KEEP_ALIVE - 1 <= after_last <= KEEP_ALIVE + 1, after_last
    assert last_done - started >= 7


def test_a_connection_without_a_whole_request_head_is_closed_as_idle(served: Running) -> None:
    """A connection that sends nothing, and one that sends half a head and stops, are
    closed about the keep-alive timeout after they connect (uvicorn alone leaves both open
    for ever, so a guest could hold any number of sockets), without an answer."""
    port = served.service.port
    started = time.monotonic()
    with Wire(port, timeout=KEEP_ALIVE + 5) as silent, Wire(port, timeout=KEEP_ALIVE + 5) as half:
        half.send(b"GET /latest/meta-data/hostname HTTP/1.1\r\nHost: 169.254.169.254\r\n")
        silent_after = silent.closed_within(KEEP_ALIVE + 5)
        half.closed_within(KEEP_ALIVE + 5)
        half_after = time.monotonic() - started
    assert KEEP_ALIVE - 1 <= silent_after <= KEEP_ALIVE + 1, silent_after
    assert KEEP_ALIVE - 1 <= half_after <= KEEP_ALIVE + 1.5, half_after


CLOSING = {
    "1.0": ("1.0", {}),
    "1.0 keep-alive": ("1.0", {"Connection": "keep-alive"}),  # uvicorn closes these too
    "1.1 close": ("1.1", {"Connection": "close"}),
}


@pytest.mark.parametrize(("version", "headers"), CLOSING.values(), ids=CLOSING.keys())
@pytest.mark.parametrize(
    ("path", "way"),
    [("/latest/meta-data/hostname", "direct"), ("/latest/meta%2Ddata/hostname", "asgi")],
)
def test_a_closing_request_gets_connection_close_and_the_socket_closes(
    served: Running, version: str, headers: dict[str, str], path: str, way: str
) -> None:
    """A request pipelined behind the closing one is not answered: a server "MUST NOT
    process any further requests received on that connection" (RFC 9112, 9.6)."""
    with Wire(served.service.port) as wire:
        wire.send(ask(path, version=version, headers=headers) + ask("/latest/meta-data/nothing"))
        answer = wire.answer()
        assert (answer.status, answer.body, answer.way) == (200, HOSTNAME, way)
        assert answer.header("connection") == "close"
        assert wire.closed_within(2) < 2


@pytest.mark.parametrize(
    ("path", "way"),
    [("/latest/meta-data/hostname", "direct"), ("/latest/meta%2Ddata/hostname", "asgi")],
)
def test_a_head_sent_in_pieces_is_answered_once_complete(
    served: Running, path: str, way: str
) -> None:
    """A slow client: the request line in two parts, every header on its own, the blank
    line split between its CR and LF, 50 ms apart; twice on one connection, so the second
    head is counted from zero again."""
    whole = ask(path)
    lines = whole.split(b"\r\n")
    pieces = [lines[0][:12], lines[0][12:] + b"\r\n"]
    pieces += [line + b"\r\n" for line in lines[1:-2]]
    pieces += [b"\r", b"\n"]
    assert b"".join(pieces) == whole
    with Wire(served.service.port) as wire:
        for _ in range(2):
            for piece in pieces:
                wire.send(piece)
                time.sleep(0.05)
            answer = wire.answer()
            assert (answer.status, answer.body, answer.way) == (200, HOSTNAME, way)
        assert wire.received == b""


@pytest.mark.parametrize("together", [True, False], ids=["one write", "body after the answer"])
@pytest.mark.parametrize(
    ("path", "way"),
    [("/latest/meta-data/hostname", "direct"), ("/latest/meta%2Ddata/hostname", "asgi")],
)
def test_the_body_of_a_get_is_skipped_not_taken_for_a_request(
    served: Running, path: str, way: str, together: bool
) -> None:
    """The body is the start of a request line, so taking it for one would turn the next
    request into ``GET /GET /latest/...``, a 404. The direct way answers at the end of the
    head: the body may come after its answer is out."""
    first = ask(path, headers={"Content-Length": "5"})
    second = ask("/latest/meta-data/instance-id")
    with Wire(served.service.port) as wire:
        if together:
            wire.send(first + b"GET /" + second)
            answers = [wire.answer(), wire.answer()]
        else:
            wire.send(first)
            answers = [wire.answer()]
            wire.send(b"GET /" + second)
            answers.append(wire.answer())
        assert wire.received == b""
    got = [(answer.status, answer.body) for answer in answers]
    assert got == [(200, HOSTNAME), (200, INSTANCE_ID)]
    assert answers[0].way == way
