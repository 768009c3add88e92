"""The one reconnecting connection the agent and the exporter index share, on libvirt's
in-process test driver (real libvirt code, no daemon): callbacks go on with the
connection and come off with it, and a URI that does not answer is retried with a
growing pause."""

from __future__ import annotations

import threading
import time
from typing import Any

import libvirt
import pytest

from guestmeta.libvirt.connection import LibvirtUnreachable, start_event_loop
from guestmeta.libvirt.session import BACKOFF_START, Session

URI = "test:///default"


def _register_lifecycle(conn: Any) -> list[int]:
    return [
        conn.domainEventRegisterAny(
            None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, lambda *_: None, None
        )
    ]


def test_callbacks_come_off_with_the_connection() -> None:
    start_event_loop()
    session = Session(URI, register=_register_lifecycle)
    conn = session.connect()
    assert session.alive and session.connects == 1
    assert len(conn.domainEventCallbackID) == 1
    session.close()
    assert conn.domainEventCallbackID == {}
    assert session.conn is None and not session.alive
    with pytest.raises(libvirt.libvirtError):
        conn.getHostname()  # closed


def test_a_new_connection_releases_the_old_one() -> None:
    session = Session(URI, register=_register_lifecycle)
    first = session.connect()
    second = session.connect()
    assert first is not second
    assert first.domainEventCallbackID == {}
    assert len(second.domainEventCallbackID) == 1
    assert session.connects == 2
    session.close()


def test_a_registration_that_fails_undoes_the_connection() -> None:
    opened: list[Any] = []

    def broken(conn: Any) -> list[int]:
        opened.append(conn)
        raise libvirt.libvirtError("lost while registering")

    session = Session(URI, register=broken)
    with pytest.raises(LibvirtUnreachable, match=f"lost {URI} while connecting"):
        session.connect()
    assert session.conn is None and session.connects == 0
    with pytest.raises(libvirt.libvirtError):
        opened[0].getHostname()


def test_an_unreachable_uri_is_retried_with_a_growing_pause() -> None:
    session = Session("qemu+unix:///system?socket=/nonexistent/sock", backoff_max=1.0)
    stop = threading.Event()
    started = time.monotonic()
    assert session.connect_or_wait(stop) is False
    first = time.monotonic() - started
    assert first >= BACKOFF_START * 0.9
    started = time.monotonic()
    assert session.connect_or_wait(stop) is False
    assert time.monotonic() - started >= 2 * BACKOFF_START * 0.9  # doubled
    stop.set()  # a stop ends the wait at once
    started = time.monotonic()
    assert session.connect_or_wait(stop) is False
    assert time.monotonic() - started < 0.5


def test_losing_the_connection_is_reported_and_counted() -> None:
    lost: list[bool] = []
    session = Session(URI, on_lost=lambda: lost.append(True))
    session.connect()
    session._closed(session.conn, 0, None)  # what libvirt calls when the daemon goes away
    assert lost == [True]
    assert not session.alive  # the owner reconnects on its own thread
    session.connect()
    assert session.alive
    session.close()
