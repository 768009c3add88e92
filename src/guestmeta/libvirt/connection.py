"""Opening libvirt connections, and the one event loop a process needs for their events.

libvirt delivers domain events (device added or removed, lifecycle, metadata changed)
and notices a dead daemon (keepalive, close callback) only while an event loop runs in
the client. Its default implementation must be registered before the first connection
is opened and then driven by a thread; a process gets exactly one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import Any

import libvirt

DEFAULT_URI = "qemu:///system"
log = logging.getLogger(__name__)
_loop_lock = threading.Lock()
_loop_started = False


class LibvirtUnreachable(RuntimeError):
    """libvirt cannot be reached at a URI; the message is one line naming it."""


def _quiet(_ctx: object, _err: object) -> None:
    """libvirt prints every error to stderr by default; callers handle the exceptions."""


def quiet_errors() -> None:
    libvirt.registerErrorHandler(_quiet, None)


def uri_or_default(uri: str | None) -> str:
    return uri or os.environ.get("LIBVIRT_DEFAULT_URI") or DEFAULT_URI


def start_event_loop() -> None:
    """Register libvirt's default event loop and run it in a daemon thread, once."""
    global _loop_started
    with _loop_lock:
        if _loop_started:
            return
        libvirt.virEventRegisterDefaultImpl()

        def run() -> None:
            while True:
                try:
                    libvirt.virEventRunDefaultImpl()
                except libvirt.libvirtError as exc:  # pragma: no cover - never seen
                    log.warning("libvirt event loop: %s", exc)

        threading.Thread(target=run, name="libvirt-events", daemon=True).start()
        _loop_started = True


def reason(exc: BaseException) -> str:
    """libvirt's message on one line, without its 'Failed to connect socket' boilerplate."""
    text = (exc.get_error_message() if isinstance(exc, libvirt.libvirtError) else None) or str(exc)
    return " ".join(text.split())


def open_connection(
    uri: str | None = None, *, keepalive: bool = False, read_only: bool = False
) -> Any:
    """A connection (read-write unless ``read_only``), or LibvirtUnreachable naming the
    URI and libvirt's reason.

    ``keepalive`` makes the connection notice a daemon that went away within seconds
    (it needs the event loop, so it starts it).
    """
    quiet_errors()
    if keepalive:
        start_event_loop()
    target = uri_or_default(uri)
    try:
        conn = libvirt.openReadOnly(target) if read_only else libvirt.open(target)
    except libvirt.libvirtError as exc:
        raise LibvirtUnreachable(f"cannot connect to libvirt at {target}: {reason(exc)}") from exc
    if conn is None:  # older bindings returned None instead of raising
        raise LibvirtUnreachable(f"cannot connect to libvirt at {target}")
    if keepalive:
        # test:///default has no keepalive, and no daemon that could go away.
        with contextlib.suppress(libvirt.libvirtError):
            conn.setKeepAlive(5, 3)
    return conn


def is_no_domain(exc: BaseException) -> bool:
    """The domain went away (undefined or destroyed while we looked at it)."""
    return (
        isinstance(exc, libvirt.libvirtError) and exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN
    )


def lookup(conn: Any, name: str) -> Any | None:
    """The domain called ``name``, or None when there is none."""
    try:
        return conn.lookupByName(name)
    except libvirt.libvirtError as exc:
        if is_no_domain(exc):
            return None
        raise
