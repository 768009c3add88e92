"""One libvirt connection that comes back: the agent's and the exporter index's.

Both need the same thing from libvirt: a connection with keepalive, their event
callbacks registered on it, word when the daemon goes away, and a new connection with a
growing pause (0.5 s up to 30 s) until it answers again. Registering the callbacks and
taking them off again belong together, so a connection that fails half-way through
being set up, or that the daemon closed under us, is always undone the same way.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

import libvirt

from guestmeta.libvirt.connection import (
    LibvirtUnreachable,
    open_connection,
    reason,
    uri_or_default,
)

BACKOFF_START = 0.5
BACKOFF_MAX = 30.0
log = logging.getLogger(__name__)

# Registers callbacks on a new connection and returns their ids.
Register = Callable[[Any], list[int]]


class Session:
    """A connection to ``uri`` with ``register``'s callbacks, reopened when it is lost.

    ``on_lost`` is called on libvirt's event-loop thread when the daemon closes the
    connection: it must only hand the news on. The connection itself is released by
    whoever owns the session, on its own thread (``close()`` or the next ``connect()``).
    """

    def __init__(
        self,
        uri: str | None = None,
        *,
        register: Register | None = None,
        on_lost: Callable[[], None] | None = None,
        read_only: bool = False,
        backoff_max: float = BACKOFF_MAX,
    ) -> None:
        self.uri = uri_or_default(uri)
        self.register = register
        self.on_lost = on_lost
        self.read_only = read_only
        self.backoff_max = backoff_max
        self.conn: Any = None
        self.connects = 0  # how many connections were made (tests watch it)
        self.lost = False
        self._callbacks: list[int] = []
        self._pause = BACKOFF_START

    def connect(self) -> Any:
        """Open a connection and register everything on it; LibvirtUnreachable if not."""
        self.close()
        self.lost = False  # first: a close during the registrations below must count
        conn = open_connection(self.uri, keepalive=True, read_only=self.read_only)
        self.conn = conn
        try:
            # Drivers without a daemon (test:///default) have no close callback.
            with contextlib.suppress(libvirt.libvirtError):
                conn.registerCloseCallback(self._closed, None)
            if self.register is not None:
                self._callbacks = self.register(conn)
        except libvirt.libvirtError as exc:
            self.close()
            raise LibvirtUnreachable(f"lost {self.uri} while connecting: {reason(exc)}") from exc
        self.connects += 1
        self._pause = BACKOFF_START
        return conn

    def connect_or_wait(self, stop: threading.Event) -> bool:
        """Connect; when libvirt does not answer, log, wait the pause (or until ``stop``)
        and return False. The pause doubles with every failure up to ``backoff_max``."""
        try:
            self.connect()
        except LibvirtUnreachable as exc:
            log.warning("%s; retrying in %.1f s", exc, self._pause)
            stop.wait(self._pause)
            self._pause = min(self._pause * 2, self.backoff_max)
            return False
        return True

    def _closed(self, _conn: Any, why: int, _opaque: Any) -> None:
        self.lost = True
        if self.on_lost is not None:
            self.on_lost()

    def close(self) -> None:
        """Take our callbacks off the connection and close it; safe to call twice."""
        conn, self.conn = self.conn, None
        callbacks, self._callbacks = self._callbacks, []
        if conn is None:
            return
        for callback_id in callbacks:
            with contextlib.suppress(libvirt.libvirtError):  # the daemon is gone already
                conn.domainEventDeregisterAny(callback_id)
        for call in (conn.unregisterCloseCallback, conn.close):
            with contextlib.suppress(libvirt.libvirtError):
                call()

    @property
    def alive(self) -> bool:
        """Connected, and libvirt has not told us the connection is gone."""
        return self.conn is not None and not self.lost
