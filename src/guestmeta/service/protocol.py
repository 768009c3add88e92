"""uvicorn's httptools protocol with a bound on the request head.

httptools keeps collecting a request line or header for as long as the client sends
one, so a guest could make a worker hold any amount of memory with one never-ending
header. Counting the bytes that arrive before the head is complete, and answering 431
once they pass :data:`MAX_HEAD`, bounds that at one read beyond the limit. Nova's app
sits behind a server that does the same (eventlet's 8 KiB line limit).

The answer to an EC2 token request leaves with an IP TTL (hop limit) of 1, as AWS sends
it: a router between the guest and the service drops it, so a token cannot be fetched
for a guest from beyond its own link. The connection's TTL is put back for the next
request on it.
"""

from __future__ import annotations

import socket
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

TOKEN_URL = b"/latest/api/token"
MAX_HEAD = 16 * 1024  # request line and headers together
_REFUSAL = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=UTF-8\r\n"
    b"content-length: 32\r\nconnection: close\r\n\r\n"
    b"request header fields too large\n"
)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_open = True
        self._head_size = 0
        self._hops: tuple[int, int, int] | None = None  # a changed TTL to put back

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._hops is not None:
            level, option, value = self._hops
            self._hops = None
            _set(self.transport, level, option, value)

    def data_received(self, data: bytes) -> None:
        if self._head_open:
            self._head_size += len(data)
            if self._head_size > MAX_HEAD:
                self.transport.write(_REFUSAL)
                self.transport.close()
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._head_open = False
        if self.url.split(b"?")[0].rstrip(b"/") == TOKEN_URL:
            self._hops = _one_hop(self.transport)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_open = True
        self._head_size = 0


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
