"""uvicorn's httptools protocol with a bound on the request head and a direct way out.

httptools keeps collecting a request line or header for as long as the client sends
one, so a guest could make a worker hold any amount of memory with one never-ending
header. Counting the bytes that arrive before the head is complete, and answering 431
once they pass :data:`MAX_HEAD`, bounds that at one read beyond the limit. Nova's app
sits behind a server that does the same (eventlet's 8 KiB line limit).

The answer to an EC2 token request (any PUT) leaves with an IP TTL (hop limit) of 1, as AWS sends
it: a router between the guest and the service drops it, so a token cannot be fetched
for a guest from beyond its own link. The connection's TTL is put back for the next
request on it.

A ``GET`` or ``HEAD`` is answered as soon as its head is parsed: the listener's app
decides it from memory (:meth:`~guestmeta.service.app.ListenerApp.answer_now`) and the
answer is written to the transport here, with uvicorn's status lines and default headers
(``date``). Going through ASGI instead costs a task, an event and two messages per
request, three times what deciding costs; every other request (a token, a password, a
path with escapes, a request while another is still being answered on a pipelined
connection) still goes through uvicorn's ASGI cycle. Keep-alive, its timeout, flow
control and shutdown stay uvicorn's: a request answered here leaves the connection in the
same state as one whose ASGI cycle completed.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any, cast

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

MAX_HEAD = 16 * 1024  # request line and headers together
_REFUSAL = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=UTF-8\r\n"
    b"content-length: 32\r\nconnection: close\r\n\r\n"
    b"request header fields too large\n"
)


class _NoWaiter:
    def set(self) -> None:
        pass


class _Answered:
    """Stands for uvicorn's request cycle once a request was answered directly: complete,
    so the parser's body and end callbacks, a lost connection and a shutdown all see a
    finished response, as after an ASGI cycle."""

    response_complete = True
    keep_alive = True

    message_event = _NoWaiter()  # what uvicorn's callbacks wake; nobody waits here


ANSWERED = _Answered()
_CLOSE = b"connection: close\r\n"


class MetadataHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol with a bounded head, a one-hop TTL for tokens, and the
    direct way out for what the app answers from memory (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._answer_now: Callable[..., Any] | None = getattr(self.app, "answer_now", None)
        self._head_open = True
        self._head_size = 0
        self._hops: tuple[int, int, int] | None = None  # a changed TTL to put back
        self._done_at = 0.0  # loop time of the last answer, for the keep-alive timeout
        self._defaults: tuple[list[tuple[bytes, bytes]] | None, bytes] = (None, b"")

    # A request's state. uvicorn makes the ASGI scope for every request as it begins;
    # here it is made only for a request that goes the ASGI way (:meth:`_asgi`).
    def on_message_begin(self) -> None:
        self.url = b""
        self.expect_100_continue = False
        self.headers = []
        if self._hops is not None:
            level, option, value = self._hops
            self._hops = None
            _set(self.transport, level, option, value)

    def _asgi(self) -> None:
        url, headers, expect = self.url, self.headers, self.expect_100_continue
        super().on_message_begin()
        self.url, self.headers, self.expect_100_continue = url, headers, expect
        self.scope["headers"] = headers
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        if self._head_open:
            self._head_size += len(data)
            if self._head_size > MAX_HEAD:
                self.transport.write(_REFUSAL)
                self.transport.close()
                return
        # uvicorn's own, without its keep-alive reset (see below): one call less per request.
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    def on_headers_complete(self) -> None:
        self._head_open = False
        if self.parser.get_method() == b"PUT":
            # Only the token path takes PUT, under many spellings (``/ec2/...``, doubled
            # slashes, escapes): every PUT's answer leaves with TTL 1, a 405 included.
            self._hops = _one_hop(self.transport)
        elif self._answer_now is not None and self._answered(self._answer_now):
            return
        self._asgi()

    def _answered(self, answer_now: Callable[..., Any]) -> bool:
        """Answer a GET or HEAD now, if the app can from memory; False: the ASGI way."""
        parser = self.parser
        method = parser.get_method()
        if method != b"GET" and method != b"HEAD":
            return False
        if self.cycle is not None and not self.cycle.response_complete:
            return False  # pipelined behind an unfinished answer: keep the order
        path = self.url.partition(b"?")[0]
        if not path.startswith(b"/") or b"%" in path or not path.isascii():
            return False  # absolute-form or escaped: uvicorn decodes those
        answer = answer_now(method.decode(), path.decode(), self.headers, self.client)
        if answer is None:
            return False
        reply = answer.reply
        out: list[bytes | memoryview] = [STATUS_LINE[answer.status], reply.head]
        for name, value in answer.extra:
            out += (name, b": ", value, b"\r\n")
        defaults = self.server_state.default_headers
        if defaults is not self._defaults[0]:  # uvicorn renews the date once a second
            lines = b"".join(name + b": " + value + b"\r\n" for name, value in defaults)
            self._defaults = (defaults, lines)
        out.append(self._defaults[1])
        keep_alive = parser.should_keep_alive() and parser.get_http_version() != "1.0"
        out.append(b"\r\n" if keep_alive else _CLOSE + b"\r\n")
        if method == b"GET":
            reply.render_into(out)
        self.transport.write(b"".join(out))
        self.cycle = ANSWERED  # type: ignore[assignment]
        self.server_state.total_requests += 1
        if not keep_alive:
            self.transport.close()
        else:  # what on_response_complete does, less what only an ASGI cycle needs
            self._idle_from_now()
        return True

    def on_message_complete(self) -> None:
        if cast(object, self.cycle) is not ANSWERED:  # an answered request: nothing to wake
            super().on_message_complete()
        self._head_open = True
        self._head_size = 0

    # Keep-alive. uvicorn arms a timer after every answer and cancels it when the next
    # request arrives: two timer operations per request, more than a quarter of the
    # cost of answering from memory. Here one timer per idle period checks when it
    # fires how long the connection has really been idle, and waits again if less.
    # Idle means no answer is being made: a connection must bring a whole request head
    # within the timeout of connecting or of its last answer. uvicorn never closes a
    # connection that sends nothing, or half a head, so a guest could hold sockets open
    # for ever; here it is closed like any idle one.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._idle_from_now()

    def on_response_complete(self) -> None:
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        else:
            self._idle_from_now()

    def _idle_from_now(self) -> None:
        """The connection has no answer in the making from now on: the timer (armed once
        per idle period) counts from here."""
        self._done_at = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def _unset_keepalive_if_required(self) -> None:
        """A request arriving leaves the timer armed: it checks when it fires."""

    def timeout_keep_alive_handler(self) -> None:
        self.timeout_keep_alive_task = None
        if self.transport.is_closing():
            return
        busy = self.cycle is not None and not self.cycle.response_complete
        left = self.timeout_keep_alive - (self.loop.time() - self._done_at)
        if busy or left > 0:
            self.timeout_keep_alive_task = self.loop.call_later(
                left if left > 0 and not busy else self.timeout_keep_alive,
                self.timeout_keep_alive_handler,
            )
            return
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None
        super().connection_lost(exc)


def _one_hop(transport: Any) -> tuple[int, int, int] | None:
    """Set the connection's TTL to 1; what to put back, or None (not an IP socket)."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    if sock.family == socket.AF_INET6:
        level, option = socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS
    else:
        level, option = socket.IPPROTO_IP, socket.IP_TTL
    before = sock.getsockopt(level, option)
    _set(transport, level, option, 1)
    return level, option, before


def _set(transport: Any, level: int, option: int, value: int) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(level, option, value)
