"""Readers never wait for writers, on SQLite and PostgreSQL.

A writer is held open deliberately (a change whose computation blocks until the test lets
it go, with the write lock and the revision row already taken); meanwhile a second store
opened on the same database reads. The reads must finish while the writer is still open
and see the last committed state. No timing is asserted here (a loaded machine may be
slow); "finished before the writer was released" is what could not happen if they
waited. ``bench/readers.py`` measures how long such a read takes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from guestmeta.apply import load_document, plan_apply
from guestmeta.model import Plan, Topology
from guestmeta.store import Store

GUESTMETA = Path(sys.executable).parent / "guestmeta"
WAIT = 60.0  # seconds a step may take on a loaded machine before the test gives up


def net(name: str) -> Callable[[Topology], Plan]:
    doc = load_document(f"{name}.yaml", f"networks:\n  - {{id: {name}, name: {name}}}\n")
    return lambda current: plan_apply(current, [doc])


@contextmanager
def writer_held(store: Store) -> Iterator[threading.Thread]:
    """A change to the store that is inside its write transaction until the block ends."""
    inside, release = threading.Event(), threading.Event()
    compute = net("net-new")
    errors: list[BaseException] = []

    def blocking(current: Topology) -> Plan:
        inside.set()
        assert release.wait(WAIT), "the test never released the writer"
        return compute(current)

    def run() -> None:
        try:
            store.change(blocking)
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    assert inside.wait(WAIT), "the writer never started"
    try:
        yield thread
    finally:
        release.set()
        thread.join(WAIT)
    assert not errors, errors


def in_thread(func: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    out: list[object] = []
    thread = threading.Thread(target=lambda: out.append(func()))
    thread.start()
    return thread, out


def test_reads_do_not_wait_for_an_open_write(store: Store) -> None:
    store.change(net("net-old"))
    with writer_held(store) as writer:

        def read() -> tuple[int, set[str]]:
            with Store(store.url) as other:  # opening takes no write lock either
                with other.reader() as r:
                    r.servers_on_host("nowhere")
                return other.revision(), set(other.load().networks)

        reader, out = in_thread(read)
        reader.join(WAIT)
        assert not reader.is_alive(), "the read waited for the writer"
        assert writer.is_alive(), "the writer finished before the read: nothing was tested"
        assert out == [(1, {"net-old"})]  # the last committed state
    assert store.revision() == 2
    assert set(store.load().networks) == {"net-old", "net-new"}


def test_preview_does_not_wait_for_an_open_write(store: Store) -> None:
    store.change(net("net-old"))
    with writer_held(store) as writer:
        reader, out = in_thread(lambda: Store(store.url).preview(net("net-dry")).revision)
        reader.join(WAIT)
        assert not reader.is_alive(), "the dry run waited for the writer"
        assert writer.is_alive()
        assert out == [1]


def test_cli_reads_return_during_an_open_write(store: Store) -> None:
    """``guestmeta revision`` and ``guestmeta list``, run as the real command."""
    store.change(net("net-old"))
    env = {k: v for k, v in os.environ.items() if k != "GUESTMETA_DB"}
    with writer_held(store) as writer:
        for args in (["revision"], ["list", "networks", "--format", "json"]):
            done = subprocess.run(
                [str(GUESTMETA), "--db", store.url, *args],
                capture_output=True,
                text=True,
                env=env,
                timeout=WAIT,
            )
            assert done.returncode == 0, done.stderr
            assert "net-new" not in done.stdout
        assert writer.is_alive()
    assert [n["id"] for n in json.loads(done.stdout)] == ["net-old"]
