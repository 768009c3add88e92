"""uvicorn's httptools protocol with a bound on the request head.

httptools keeps collecting a request line or header for as long as the client sends
one, so a guest could make a worker hold any amount of memory with one never-ending
header. Counting the bytes that arrive before the head is complete, and answering 431
once they pass :data:`MAX_HEAD`, bounds that at one read beyond the limit. Nova's app
sits behind a server that does the same (eventlet's 8 KiB line limit).
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_open = True
        self._head_size = 0
