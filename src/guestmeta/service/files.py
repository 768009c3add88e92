"""One server's answers, built once per change and served as they are.

The request path only looks up a path here and writes the bytes out: every body, its
content type and its header list are ready. The one part that must differ on every
request, ``random_seed`` in ``meta_data.json`` (Nova gives fresh entropy each time), is a
placeholder of the seed's exact length whose offset is kept, so a request splices fresh
bytes in without parsing or rendering anything.
"""

from __future__ import annotations

import base64
import os
import sys
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from guestmeta.documents import (
    RANDOM_SEED_BYTES,
    RANDOM_SEED_PLACEHOLDER,
    Devices,
    Document,
    DocumentOptions,
    service_tree,
)
from guestmeta.model import Topology


@dataclass(frozen=True, slots=True)
class Reply:
    """A 200 answer: body, content type and the header list an ASGI server takes."""

    body: bytes
    content_type: str
    headers: tuple[tuple[bytes, bytes], ...]
    seed_at: int = -1  # where the random seed's placeholder starts, or -1
    head: bytes = b""  # the same headers as HTTP/1.1 lines, for the direct way out

    @classmethod
    def of(cls, document: Document) -> Reply:
        seed_at = -1 if document.seed_at is None else document.seed_at
        return cls.plain(document.body, document.content_type, seed_at)

    @classmethod
    def plain(cls, body: bytes, content_type: str, seed_at: int = -1) -> Reply:
        """An answer with its headers ready; one made on the spot (a token, a password)
        has no seed in it."""
        headers = (
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
        )
        return cls(body, content_type, headers, seed_at, _lines(headers))

    def render(self) -> bytes:
        """The body to send now: with a fresh random seed where the document has one."""
        if self.seed_at < 0:
            return self.body
        out: list[bytes | memoryview] = []
        self.render_into(out)
        return b"".join(out)

    def render_into(self, out: list[bytes | memoryview]) -> None:
        """:meth:`render`, as pieces added to ``out`` (joined once with the head)."""
        if self.seed_at < 0:
            out.append(self.body)
        else:
            end = self.seed_at + _SEED_CHARS
            out += (self.body[: self.seed_at], _SEEDS.take(), self.body[end:])


def _lines(headers: tuple[tuple[bytes, bytes], ...]) -> bytes:
    return b"".join(name + b": " + value + b"\r\n" for name, value in headers)


# A seed's base64 is 684 characters for 512 bytes, the last one padding ("="), which never
# changes: only the first _SEED_CHARS are spliced in, and the padding stays in the body.
_PAD = -RANDOM_SEED_BYTES % 3
_STRIDE = RANDOM_SEED_BYTES + _PAD  # a seed and the zero bytes that pad it to whole groups
_SEED_CHARS = len(RANDOM_SEED_PLACEHOLDER) - _PAD


class _Seeds:
    """Fresh seeds, base64 as served, made 64 at a time and encoded in one call.

    A seed per request from the kernel (``getrandom``) and its own encoding cost a third
    of a ``meta_data.json`` answer from memory. Instead, each batch takes a 256-bit key and
    a nonce from the kernel and expands them with ChaCha20, which is what the kernel's own
    generator does with its pool: the seeds are as unpredictable as ``os.urandom``'s, at a
    fifteenth of the cost here. Each seed is followed by ``_PAD`` zero bytes, so every seed
    starts on a three-byte group: the base64 of the whole batch is then the base64 of each
    seed in turn, except that a seed's padding characters are "A" (the zero bytes) where its
    own encoding has "=" -- and those are left out of what is spliced (``_SEED_CHARS``).
    Each seed is served once.
    """

    BATCH = 64

    def __init__(self) -> None:
        self._text = memoryview(b"")
        self._at = 0

    def take(self) -> memoryview:
        at = self._at
        if at >= len(self._text):
            self._text = memoryview(base64.b64encode(_keystream(_STRIDE * self.BATCH)))
            at = 0
        self._at = at + _STRIDE * 4 // 3
        return self._text[at : at + _SEED_CHARS]

    def forget(self) -> None:
        """Drop the batch (a forked worker must never serve the seeds its parent drew)."""
        self._text = memoryview(b"")
        self._at = 0


def _keystream(size: int) -> bytearray:
    """``size`` bytes of ChaCha20 keystream under a fresh key, with every seed's padding
    bytes (see :class:`_Seeds`) set to zero."""
    key_and_nonce = os.urandom(48)
    cipher = Cipher(algorithms.ChaCha20(key_and_nonce[:32], key_and_nonce[32:]), mode=None)
    stream = bytearray(cipher.encryptor().update(bytes(size)))
    count = size // _STRIDE
    for k in range(RANDOM_SEED_BYTES, _STRIDE):
        stream[k::_STRIDE] = bytes(count)
    return stream


_SEEDS = _Seeds()
os.register_at_fork(after_in_child=_SEEDS.forget)


ServerFiles = dict[str, Reply]


def build_files(
    topology: Topology,
    server_id: str,
    options: DocumentOptions,
    shared: dict[tuple[str, bytes], Reply] | None = None,
    nics: Devices | None = None,
) -> ServerFiles:
    """Every path of the server's tree. ``shared`` lets identical answers be one object.

    Listings, version directories and vendor data are the same for most servers; keeping
    one copy of each is what lets one process hold tens of thousands of servers.
    """
    files: ServerFiles = {}
    for path, document in service_tree(topology, server_id, options, nics).items():
        path = sys.intern(path)  # every server has the same few hundred paths: one copy each
        if shared is None:
            files[path] = Reply.of(document)
            continue
        key = (document.content_type, document.body)
        reply = shared.get(key)
        if reply is None:
            reply = shared[key] = Reply.of(document)
        files[path] = reply
    return files
