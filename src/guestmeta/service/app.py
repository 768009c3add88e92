"""The ASGI application: resolve the caller, then answer from the snapshot's bytes.

One app per listener (the listener decides how callers are identified). Nothing here
renders a document: every answer was built when the store's revision moved
(:mod:`guestmeta.service.snapshot`), and a request only picks it. The statuses follow
Nova's metadata service where it has one (200 for every hit, 404 for anything absent,
Nova's 400/403/404 for proxy headers, 409 for a second password); what Nova leaves open
is answered as HTTP says: 405 for other methods, 429 for a caller over its rate.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from guestmeta.documents import versions
from guestmeta.service import tokens
from guestmeta.service.files import Reply
from guestmeta.service.identity import Caller, Refusal, identify
from guestmeta.service.metrics import Metrics
from guestmeta.service.ratelimit import RateLimit
from guestmeta.service.settings import Listener, Settings
from guestmeta.service.snapshot import Follower
from guestmeta.store import Store

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

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
PASSWORD_MAX = 1020  # Nova keeps four chunks of 255 characters
TEXT = "text/plain; charset=UTF-8"
_ROOT = Reply.plain("\n".join(versions.ec2_versions()).encode(), TEXT)


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
    """The ASGI callable for one listener."""

    def __init__(self, service: Service, listener: Listener) -> None:
        self.service = service
        self.listener = listener
        self.name = str(listener.endpoint)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        status, server_id, size = await self._handle(scope, receive, send)
        elapsed = time.perf_counter() - started
        self.service.metrics.request(status, elapsed)
        if self.service.settings.access_log:
            client = scope.get("client")
            access.info(
                json.dumps(
                    {
                        "listener": self.name,
                        "peer": client[0] if client else None,
                        "method": scope["method"],
                        "path": scope["path"][:256],
                        "status": status,
                        "server": server_id,
                        "bytes": size,
                        "ms": round(elapsed * 1000, 3),
                    }
                )
            )

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> tuple[int, str, int]:
        method: str = scope["method"]
        head = method == "HEAD"
        parts = [part for part in scope["path"].split("/") if part]
        if parts and parts[0] == "ec2":  # Nova's other name for the EC2 tree
            parts = parts[1:]
        if any(part in (".", "..") for part in parts):
            return await _plain(send, 404, "not found", head), "", 0
        path = "/".join(parts)
        allowed: tuple[str, ...]
        if path == tokens.TOKEN_PATH:
            allowed = ("PUT",)
        elif _is_password(parts):
            allowed = ("GET", "HEAD", "POST")
        else:
            allowed = ("GET", "HEAD")
        if method not in allowed:
            await _plain(send, 405, "method not allowed", head, [(b"allow", ", ".join(allowed))])
            return 405, "", 0
        if not path:  # Nova answers the root without asking who calls
            return await _reply(send, _ROOT, head), "", len(_ROOT.body)
        service = self.service
        snapshot = service.follower.current
        if snapshot is None:
            return await _plain(send, 503, "not ready", head), "", 0
        headers = _headers(scope)
        client = scope.get("client")
        found = identify(
            self.listener, client[0] if client else None, headers, snapshot, service.settings
        )
        if isinstance(found, Refusal):
            service.metrics.identity_failure(found.status)
            return await _plain(send, found.status, found.reason, head), "", 0
        caller: Caller = found
        if not service.limit.allow(caller.server_id):
            await _plain(send, 429, "too many requests", head, [(b"retry-after", "1")])
            return 429, caller.server_id, 0
        if path == tokens.TOKEN_PATH:
            return await self._token(send, headers, caller), caller.server_id, 0
        if parts[0] != "openstack":
            token = headers.get(tokens.TOKEN_HEADER)
            if token is not None:
                if not tokens.valid(service.secret, token[-1], caller):
                    return await _plain(send, 401, "invalid token", head), caller.server_id, 0
            elif service.settings.require_tokens:
                return await _plain(send, 401, "token required", head), caller.server_id, 0
        if _is_password(parts) and _has_password(parts[1]):
            status = await self._password(scope, receive, send, headers, caller, head)
            return status, caller.server_id, 0
        reply = snapshot.files[caller.server_id].get(path)
        if reply is None:
            return await _plain(send, 404, "not found", head), caller.server_id, 0
        return await _reply(send, reply, head), caller.server_id, len(reply.body)

    async def _token(self, send: Send, headers: dict[str, list[str]], caller: Caller) -> int:
        if "x-forwarded-for" in headers:
            return await _plain(send, 403, "a token is not issued through a proxy", False)
        ttl_values = headers.get(tokens.TTL_HEADER)
        ttl = tokens.parse_ttl(ttl_values[-1] if ttl_values else None)
        if ttl is None:
            return await _plain(send, 400, f"{tokens.TTL_HEADER} must be 1 to 21600 seconds", False)
        token = tokens.issue(self.service.secret, caller, ttl).encode()
        extra = [(tokens.TTL_HEADER.encode(), str(ttl).encode())]
        return await _reply(send, Reply.plain(token, TEXT), False, extra)

    async def _password(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[str, list[str]],
        caller: Caller,
        head: bool,
    ) -> int:
        store = self.service.store
        loop = asyncio.get_running_loop()
        if scope["method"] != "POST":
            value = await loop.run_in_executor(None, store.password, caller.server_id)
            return await _reply(send, Reply.plain((value or "").encode(), TEXT), head)
        length = (headers.get("content-length") or ["0"])[-1]
        if not length.isdigit() or int(length) > PASSWORD_MAX:
            return await _plain(send, 400, "request is too large", False)
        body = await _body(receive, PASSWORD_MAX)
        if body is None:
            return await _plain(send, 400, "request is too large", False)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return await _plain(send, 400, "the password must be UTF-8 text", False)
        stored = await loop.run_in_executor(None, store.set_password, caller.server_id, text)
        if not stored:
            return await _plain(send, 409, "the password is already set", False)
        return await _plain(send, 200, "", False)


def _is_password(parts: list[str]) -> bool:
    return len(parts) == 3 and parts[0] == "openstack" and parts[2] == "password"


def _has_password(version: str) -> bool:
    """Nova serves the password from 2013-04-04 on, and in ``latest``."""
    return version in versions.openstack_versions() and versions.has(version, versions.PASSWORD)


def _headers(scope: Scope) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, value in scope["headers"]:
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


async def _reply(
    send: Send, reply: Reply, head: bool, extra: list[tuple[bytes, bytes]] | None = None
) -> int:
    headers = [*reply.headers, *extra] if extra else list(reply.headers)
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else reply.render()})
    return 200


async def _plain(
    send: Send,
    status: int,
    text: str,
    head: bool,
    extra: list[tuple[bytes, str]] | None = None,
) -> int:
    body = (text + "\n").encode() if text else b""
    headers = [
        (b"content-type", TEXT.encode()),
        (b"content-length", str(len(body)).encode()),
        *((name, value.encode()) for name, value in extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
    return status


def configure_access_log() -> None:
    """Access lines go to standard output, one JSON object each; everything else to stderr."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False
