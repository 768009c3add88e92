"""libvirt's domain events, turned into "look at this domain again, because ...".

Callbacks run on libvirt's event-loop thread and must not block it, so each one only
hands the domain name and a reason to the agent. Our own metadata writes also raise a
metadata-changed event; the agent counts its writes per domain and the same number of
events is dropped here, so only someone else's change to our element triggers a check.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import libvirt

from guestmeta.domainxml import NS

# (domain name, reason, look for foreign interfaces?)
Notify = Callable[[str, str, bool], None]

_LIFECYCLE = {
    libvirt.VIR_DOMAIN_EVENT_DEFINED: "defined",
    libvirt.VIR_DOMAIN_EVENT_STARTED: "started",
}


class OwnWrites:
    """How many metadata-changed events our own writes still owe, per domain."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owed: Counter[str] = Counter()

    def expect(self, name: str) -> None:
        with self._lock:
            self._owed[name] += 1

    def cancel(self, name: str) -> None:
        """A write that failed raises no event."""
        with self._lock:
            if self._owed[name] > 0:
                self._owed[name] -= 1

    def consume(self, name: str) -> bool:
        """True when this event was caused by our own write."""
        with self._lock:
            if self._owed[name] > 0:
                self._owed[name] -= 1
                return True
            return False


def register(conn: Any, notify: Notify, own: OwnWrites) -> list[int]:
    """Register our callbacks on ``conn``; returns their ids (``Session`` takes them off)."""

    def device_added(_conn: Any, dom: Any, alias: str, _opaque: Any) -> None:
        notify(dom.name(), f"device {alias} added", True)

    def device_removed(_conn: Any, dom: Any, alias: str, _opaque: Any) -> None:
        notify(dom.name(), f"device {alias} removed", False)

    def lifecycle(_conn: Any, dom: Any, event: int, _detail: int, _opaque: Any) -> None:
        what = _LIFECYCLE.get(event)
        if what is not None:
            notify(dom.name(), f"domain {what}", True)

    def metadata(_conn: Any, dom: Any, mtype: int, nsuri: str | None, _opaque: Any) -> None:
        if mtype != libvirt.VIR_DOMAIN_METADATA_ELEMENT or nsuri != NS:
            return
        name = dom.name()
        if not own.consume(name):
            notify(name, "metadata changed by someone else", False)

    return [
        conn.domainEventRegisterAny(
            None, libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, device_added, None
        ),
        conn.domainEventRegisterAny(
            None, libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, device_removed, None
        ),
        conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, lifecycle, None),
        conn.domainEventRegisterAny(
            None, libvirt.VIR_DOMAIN_EVENT_ID_METADATA_CHANGE, metadata, None
        ),
    ]
