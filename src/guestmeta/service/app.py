"""The service's application: resolve the caller, then answer from the snapshot's bytes.

One app per listener (the listener decides how callers are identified). Nothing here
renders a document: every answer was built when the store's revision moved
(:mod:`guestmeta.service.snapshot`), and a request only picks it. The statuses follow
Nova's metadata service where it has one (200 for every hit, 404 for anything absent,
Nova's 400/403/404 for proxy headers, 409 for a second password); what Nova leaves open
is answered as HTTP says: 405 for other methods, 429 for a caller over its rate.

Every request is decided by one synchronous function, :meth:`ListenerApp.decide`, which
needs nothing but memory. Two ways lead to it: the ASGI call, and
:meth:`ListenerApp.answer_now`, which the HTTP protocol
(:mod:`guestmeta.service.protocol`) calls for a ``GET`` or ``HEAD`` as soon as its head is
parsed, and whose answer it writes out at once. That second way skips ASGI's per-request
task, event and messages, which cost more than the decision itself. Only the password
(the store is read or written, and a ``POST`` has a body) goes the ASGI way alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from functools import lru_cache
from typing import Any, NamedTuple

from guestmeta.documents import versions
from guestmeta.service import tokens
from guestmeta.service.files import Reply
from guestmeta.service.identity import Caller, Refusal, identify
from guestmeta.service.metrics import Metrics
from guestmeta.service.ratelimit import RateLimit
from guestmeta.service.settings import Listener, Settings
from guestmeta.service.snapshot import Follower, Snapshot
from guestmeta.store import Store

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Headers = dict[str, list[str]]
Raw = list[tuple[bytes, bytes]]  # the request's headers that matter, as they came

log = logging.getLogger(__name__)
access = logging.getLogger("guestmeta.access")

# The headers identity, tokens and passwords read, by their raw name; every other header is
# ignored. Decoded once here rather than on every request.
_WANTED = {
    name.encode(): name
    for name in (
        "x-instance-id",
        "x-instance-id-signature",
        "x-tenant-id",
        "x-forwarded-for",
        tokens.TOKEN_HEADER,
        tokens.TTL_HEADER,
        "content-length",
    )
}
_TOKEN = tokens.TOKEN_HEADER.encode()
CALLERS_MAX = 100_000  # resolved callers kept per listener and snapshot
PASSWORD_MAX = 1020  # Nova keeps four chunks of 255 characters
TEXT = "text/plain; charset=UTF-8"
_ROOT = Reply.plain("\n".join(versions.ec2_versions()).encode(), TEXT)
_READ = ("GET", "HEAD")


class Answer(NamedTuple):
    """What to send: a status, its body and headers, and the server it was for ("" if none)."""

    status: int
    reply: Reply
    server_id: str = ""
    extra: tuple[tuple[bytes, bytes], ...] = ()


def _text(status: int, text: str, *extra: tuple[bytes, bytes]) -> Answer:
    return Answer(status, Reply.plain((text + "\n").encode() if text else b"", TEXT), "", extra)


_NOT_FOUND = _text(404, "not found")
_NOT_READY = _text(503, "not ready")
_OK = _text(200, "")


class Route(NamedTuple):
    """What a path asks for, worked out once per distinct path (:func:`route`)."""

    path: str  # the file's key in the server's tree ("" for the root)
    allowed: tuple[str, ...]  # methods
    kind: str  # one of the kinds below


ROOT, TRAVERSAL, TOKEN, PASSWORD, EC2, OPENSTACK = (
    "root",
    "traversal",
    "token",
    "password",
    "ec2",
    "openstack",
)


@lru_cache(maxsize=4096)
def route(path: str) -> Route:
    """The route of a decoded request path. Guests ask for the same few hundred paths, so
    the answer is cached; a caller making paths up only cycles the cache."""
    parts = [part for part in path.split("/") if part]
    if parts and parts[0] == "ec2":  # Nova's other name for the EC2 tree
        parts = parts[1:]
    if any(part in (".", "..") for part in parts):
        return Route("", _READ, TRAVERSAL)
    key = sys.intern("/".join(parts))
    if not key:
        return Route("", _READ, ROOT)
    if key == tokens.TOKEN_PATH:
        return Route(key, ("PUT",), TOKEN)
    if len(parts) == 3 and parts[0] == "openstack" and parts[2] == "password":
        served = parts[1] in versions.openstack_versions() and versions.has(
            parts[1], versions.PASSWORD
        )  # Nova serves the password from 2013-04-04 on, and in ``latest``
        return Route(key, ("GET", "HEAD", "POST"), PASSWORD if served else OPENSTACK)
    return Route(key, _READ, OPENSTACK if parts[0] == "openstack" else EC2)


class Service:
    """What every listener of one worker shares: snapshot, limits, metrics, the store."""

    def __init__(self, settings: Settings, store: Store, follower: Follower, secret: str) -> None:
        self.settings = settings
        self.store = store
        self.follower = follower
        self.secret = secret
        self.limit = RateLimit(settings.rate_limit, settings.rate_burst)
        self.metrics = Metrics()


class ListenerApp:
    """The application of one listener: an ASGI callable, and :meth:`answer_now`."""

    def __init__(self, service: Service, listener: Listener) -> None:
        self.service = service
        self.listener = listener
        self.name = str(listener.endpoint)
        self._log = service.settings.access_log
        self._metrics = service.metrics
        # Callers this listener resolved at one snapshot, by source address and the
        # headers identity reads (a superset of what each mode needs: proxy headers,
        # X-Forwarded-For; a token rides along, and a guest reuses its token): a guest
        # asks for many paths in a row, and the same answer to "who is this" is the
        # costliest part of a request from memory. Only successes are kept, so made-up
        # headers never grow it; a new snapshot (servers may have gone, tenants changed)
        # starts it afresh.
        self._callers: dict[Any, Caller] = {}
        self._callers_at: Snapshot | None = None

    def answer_now(
        self,
        method: str,
        path: str,
        raw_headers: Iterable[tuple[bytes, bytes]],
        client: tuple[str, int] | None,
    ) -> Answer | None:
        """The answer to a request without a body, or None when it needs the ASGI way."""
        started = time.perf_counter()
        wanted = [pair for pair in raw_headers if pair[0] in _WANTED]
        answer = self.decide(method, route(path), wanted, client, started)
        if isinstance(answer, Caller):
            return None
        body = 0 if method == "HEAD" else len(answer.reply.body)
        self._record(method, path, client, answer.status, answer.server_id, body, started)
        return answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        method: str = scope["method"]
        head = method == "HEAD"
        wanted = [pair for pair in scope["headers"] if pair[0] in _WANTED]
        client = scope.get("client")
        answer = self.decide(method, route(scope["path"]), wanted, client, started)
        if isinstance(answer, Caller):
            answer = await self._password(method, receive, _headers(wanted), answer)
        await _send(send, answer, head)
        body = 0 if head else len(answer.reply.body)
        self._record(method, scope["path"], client, answer.status, answer.server_id, body, started)

    def _record(
        self,
        method: str,
        path: str,
        client: tuple[str, int] | None,
        status: int,
        server_id: str,
        size: int,
        started: float,
    ) -> None:
        elapsed = time.perf_counter() - started
        self._metrics.request(status, elapsed)
        if self._log:
            access.info(
                json.dumps(
                    {
                        "listener": self.name,
                        "peer": client[0] if client else None,
                        "method": method,
                        "path": path[:256],
                        "status": status,
                        "server": server_id,
                        "bytes": size,
                        "ms": round(elapsed * 1000, 3),
                    }
                )
            )

    def decide(
        self,
        method: str,
        to: Route,
        wanted: Raw,
        client: tuple[str, int] | None,
        now: float,
    ) -> Answer | Caller:
        """The answer, from memory alone; or, for a password, the caller whose password the
        ASGI way reads or writes in the store. ``now``: ``time.perf_counter()``."""
        if to.kind == TRAVERSAL:
            return _NOT_FOUND
        if method not in to.allowed:
            return _text(405, "method not allowed", (b"allow", ", ".join(to.allowed).encode()))
        if to.kind == ROOT:  # Nova answers the root without asking who calls
            return Answer(200, _ROOT)
        service = self.service
        snapshot = service.follower.current
        if snapshot is None:
            return _NOT_READY
        peer = client[0] if client else None
        key = (peer, tuple(wanted))
        found: Caller | Refusal | None = None
        if snapshot is self._callers_at:  # the same caller asking again, as guests do
            found = self._callers.get(key)
        if found is None:
            found = self._identify(snapshot, wanted, peer, key)
        if isinstance(found, Refusal):
            service.metrics.identity_failure(found.status)
            return _text(found.status, found.reason)
        caller: Caller = found
        server_id = caller.server_id
        if not service.limit.allow(server_id, now):
            return _text(429, "too many requests", (b"retry-after", b"1"))._replace(
                server_id=server_id
            )
        if to.kind == TOKEN:
            return self._token(_headers(wanted), caller)._replace(server_id=server_id)
        if to.kind == EC2:
            token = [value for name, value in wanted if name == _TOKEN]
            if token:
                if not tokens.valid(service.secret, token[-1].decode("latin-1"), caller):
                    return _text(401, "invalid token")._replace(server_id=server_id)
            elif service.settings.require_tokens:
                return _text(401, "token required")._replace(server_id=server_id)
        if to.kind == PASSWORD:
            return caller
        reply = snapshot.files[server_id].get(to.path)
        if reply is None:
            return _NOT_FOUND._replace(server_id=server_id)
        return Answer(200, reply, server_id)

    def _identify(
        self, snapshot: Snapshot, wanted: Raw, peer: str | None, key: Any
    ) -> Caller | Refusal:
        """:func:`~guestmeta.service.identity.identify`, remembered under ``key`` for this
        snapshot."""
        if snapshot is not self._callers_at:
            self._callers = {}
            self._callers_at = snapshot
        found = identify(self.listener, peer, _headers(wanted), snapshot, self.service.settings)
        if isinstance(found, Caller):
            if len(self._callers) >= CALLERS_MAX:
                self._callers.clear()
            self._callers[key] = found
        return found

    def _token(self, headers: Headers, caller: Caller) -> Answer:
        if "x-forwarded-for" in headers:
            return _text(403, "a token is not issued through a proxy")
        ttl_values = headers.get(tokens.TTL_HEADER)
        ttl = tokens.parse_ttl(ttl_values[-1] if ttl_values else None)
        if ttl is None:
            return _text(400, f"{tokens.TTL_HEADER} must be 1 to 21600 seconds")
        token = tokens.issue(self.service.secret, caller, ttl).encode()
        extra = ((tokens.TTL_HEADER.encode(), str(ttl).encode()),)
        return Answer(200, Reply.plain(token, TEXT), "", extra)

    async def _password(
        self, method: str, receive: Receive, headers: Headers, caller: Caller
    ) -> Answer:
        store = self.service.store
        loop = asyncio.get_running_loop()
        server_id = caller.server_id
        if method != "POST":
            value = await loop.run_in_executor(None, store.password, server_id)
            return Answer(200, Reply.plain((value or "").encode(), TEXT), server_id)
        length = (headers.get("content-length") or ["0"])[-1]
        if not length.isdigit() or int(length) > PASSWORD_MAX:
            return _text(400, "request is too large")._replace(server_id=server_id)
        body = await _body(receive, PASSWORD_MAX)
        if body is None:
            return _text(400, "request is too large")._replace(server_id=server_id)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return _text(400, "the password must be UTF-8 text")._replace(server_id=server_id)
        stored = await loop.run_in_executor(None, store.set_password, server_id, text)
        if not stored:
            return _text(409, "the password is already set")._replace(server_id=server_id)
        return _OK._replace(server_id=server_id)


def _headers(raw: Iterable[tuple[bytes, bytes]]) -> Headers:
    found: Headers = {}
    for name, value in raw:
        key = _WANTED.get(name)
        if key is not None:
            values = found.get(key)
            if values is None:
                found[key] = [value.decode("latin-1")]
            else:
                values.append(value.decode("latin-1"))
    return found


async def _body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _send(send: Send, answer: Answer, head: bool) -> None:
    reply = answer.reply
    headers = [*reply.headers, *answer.extra]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else reply.render()})


def configure_access_log() -> None:
    """Access lines go to standard output, one JSON object each; everything else to stderr."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False
