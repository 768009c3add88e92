"""The random seed spliced into every ``meta_data.json``: real base64 of 512 fresh bytes.

Seeds are drawn 64 at a time and encoded in one call (:class:`guestmeta.service.files._Seeds`);
these tests check what a guest relies on: each seed decodes to 512 bytes, its text is
exactly the standard encoding of those bytes (the padding included), no seed repeats
across batches, and a forked worker never serves the seeds its parent had drawn.
"""

from __future__ import annotations

import base64
import json
import os

from guestmeta.documents import RANDOM_SEED_BYTES, RANDOM_SEED_PLACEHOLDER
from guestmeta.service.files import _SEEDS, Reply

SEEDED = b'{"random_seed": "' + RANDOM_SEED_PLACEHOLDER + b'", "uuid": "u"}'


def _reply() -> Reply:
    return Reply(SEEDED, "application/json", (), SEEDED.index(RANDOM_SEED_PLACEHOLDER))


def test_each_seed_is_the_standard_base64_of_512_bytes_and_none_repeats() -> None:
    reply = _reply()
    seen = set()
    for _ in range(3 * _SEEDS.BATCH + 7):  # across batch boundaries
        document = json.loads(reply.render())
        text = document["random_seed"]
        raw = base64.b64decode(text, validate=True)
        assert len(raw) == RANDOM_SEED_BYTES
        assert base64.b64encode(raw).decode() == text  # canonical, "=" padding and all
        assert document["uuid"] == "u"
        seen.add(raw)
    assert len(seen) == 3 * _SEEDS.BATCH + 7


def test_the_direct_way_splices_the_same_document() -> None:
    out: list[bytes | memoryview] = []
    _reply().render_into(out)
    body = b"".join(out)
    assert len(body) == len(SEEDED)
    raw = base64.b64decode(json.loads(body)["random_seed"], validate=True)
    assert len(raw) == RANDOM_SEED_BYTES and raw != bytes(RANDOM_SEED_BYTES)


def test_a_forked_worker_does_not_serve_its_parents_seeds() -> None:
    _SEEDS.take()  # the parent holds a batch with seeds still unserved
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its first seed and leave at once
        os.write(write, bytes(_SEEDS.take()))
        os._exit(0)
    os.close(write)
    child = b""
    while chunk := os.read(read, 4096):
        child += chunk
    os.close(read)
    os.waitpid(pid, 0)
    parent_next = bytes(_SEEDS.take())
    assert len(child) == len(parent_next) > 0
    assert child != parent_next
