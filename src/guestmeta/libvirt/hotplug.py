"""Plugging and unplugging one interface on a domain, live and saved.

Attaching is immediate. Detaching a running domain's NIC is a request to the guest,
which may take its time or never answer (no OS, a hung kernel): the live device is
asked to go first, by alias (libvirt then returns at once), and we wait for libvirt's
device-removed event; only once it is gone is the saved definition changed. So a
timeout leaves both definitions still holding the interface, and the caller's store
can stay as it was: everything still agrees that the port is plugged.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import libvirt

from guestmeta.libvirt.domain import CONFIG, LIVE, affected
from guestmeta.libvirt.interfaces import Interface, find

INACTIVE = libvirt.VIR_DOMAIN_XML_INACTIVE
POLL = 0.25  # the event is what we wait for; the poll only guards against a lost one


class HotplugError(RuntimeError):
    """A device change libvirt or the guest refused; one line naming domain and MAC."""


class DetachTimeout(HotplugError):
    """The guest has not released the interface in time; nothing else was changed."""


def labels(flags: int) -> tuple[str, ...]:
    return tuple(name for flag, name in ((LIVE, "live"), (CONFIG, "config")) if flags & flag)


def present(dom: Any, mac: str) -> tuple[Interface | None, Interface | None]:
    """The interface with ``mac`` in the live and in the saved definition (None: absent)."""
    live = find(dom, mac, 0) if dom.isActive() else None
    saved = find(dom, mac, INACTIVE) if dom.isPersistent() else None
    return live, saved


def attach(dom: Any, xml: str, mac: str) -> tuple[str, ...]:
    """Plug the interface where it is missing (live, saved or both); returns where."""
    live, saved = present(dom, mac)
    flags = 0
    for flag in affected(dom):
        if (flag == LIVE and live is None) or (flag == CONFIG and saved is None):
            flags |= flag
    if flags:
        try:
            dom.attachDeviceFlags(xml, flags)
        except libvirt.libvirtError as exc:
            raise HotplugError(
                f"cannot plug {mac} into {dom.name()}: {exc.get_error_message()}"
            ) from exc
    return labels(flags)


def detach(conn: Any, dom: Any, mac: str, timeout: float) -> tuple[str, ...]:
    """Unplug ``mac`` from the live definition (waiting for the guest), then the saved one.

    The device-removed event reaches us only when the process runs libvirt's event loop
    (``connection.open_connection(keepalive=True)`` starts it); without it the live
    XML is polled instead.
    """
    live, saved = present(dom, mac)
    done: list[str] = []
    if live is not None:
        _detach_live(conn, dom, live, timeout)
        done.append("live")
    if saved is not None:
        try:
            dom.detachDeviceFlags(saved.xml, CONFIG)
        except libvirt.libvirtError as exc:
            raise HotplugError(
                f"{mac} left the running {dom.name()} but not its saved definition: "
                f"{exc.get_error_message()}"
            ) from exc
        done.append("config")
    return tuple(done)


def _detach_live(conn: Any, dom: Any, iface: Interface, timeout: float) -> None:
    name = dom.name()
    settled = threading.Event()
    refused: list[str] = []

    def removed(_conn: Any, event_dom: Any, alias: str, _opaque: Any) -> None:
        if event_dom.name() == name and alias == iface.alias:
            settled.set()

    def failed(_conn: Any, event_dom: Any, alias: str, _opaque: Any) -> None:
        if event_dom.name() == name and alias == iface.alias:
            refused.append(alias)
            settled.set()

    callbacks = [
        conn.domainEventRegisterAny(dom, libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, removed, None),
        conn.domainEventRegisterAny(
            dom, libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVAL_FAILED, failed, None
        ),
    ]
    try:
        try:
            if iface.alias:
                dom.detachDeviceAlias(iface.alias, LIVE)  # returns at once; the event follows
            else:
                dom.detachDeviceFlags(iface.xml, LIVE)
        except libvirt.libvirtError as exc:
            raise HotplugError(
                f"cannot unplug {iface.mac} from {name}: {exc.get_error_message()}"
            ) from exc
        deadline = time.monotonic() + timeout
        while not settled.wait(POLL):
            if find(dom, iface.mac, 0) is None:
                break
            if time.monotonic() >= deadline:
                raise DetachTimeout(
                    f"timed out after {timeout:g} s waiting for the guest in {name} to release "
                    f"interface {iface.mac}; store and saved definition unchanged (the unplug "
                    "request stays pending in the guest: run the detach again to finish it)"
                )
        if refused:
            raise HotplugError(f"the guest in {name} refused to release interface {iface.mac}")
    finally:
        for callback in callbacks:
            with contextlib.suppress(libvirt.libvirtError):
                conn.domainEventDeregisterAny(callback)
