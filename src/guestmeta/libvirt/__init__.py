"""The libvirt adapter: the only code that calls libvirt.

Connections (one reconnecting session with its event callbacks), domain events, our
metadata element on a domain (get, set, remove, bring to a wanted value), and NICs
(plug, unplug, find by MAC)::

    import libvirt
    from guestmeta import Store
    from guestmeta.domainxml import desired
    from guestmeta.libvirt import load_any, sync, LIVE

    dom = libvirt.open("qemu:///system").lookupByName("instance-0000002a")
    meta = load_any(dom, LIVE)             # InstanceMetadata (1.1, else 1.0) or None
    print([(p.uuid, [ip.address for ip in p.ips]) for p in meta.ports])
    topology = Store().load()
    outcome = sync(dom, desired(topology, server_id))   # writes live+config if they differ

What a host does with these (the agent, port hot-plug) is in ``guestmeta.host``; the
element itself, as a format, in ``guestmeta.domainxml``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from guestmeta._lazy import exports

if TYPE_CHECKING:
    from guestmeta.libvirt.domain import (
        CONFIG,
        LIVE,
        affected,
        element_xml,
        load,
        load_any,
        read,
        remove,
        write,
    )
    from guestmeta.libvirt.reconcile import Outcome, PassReport, full_pass, sync, sync_safely
    from guestmeta.libvirt.session import Session

__all__ = [
    "CONFIG",
    "LIVE",
    "Outcome",
    "PassReport",
    "Session",
    "affected",
    "element_xml",
    "full_pass",
    "load",
    "load_any",
    "read",
    "remove",
    "sync",
    "sync_safely",
    "write",
]
# Loaded on first use: ``guestmeta.libvirt.interfaces`` (pure XML) must not load the binding.
__getattr__ = exports(
    __name__,
    {
        "guestmeta.libvirt.domain": (
            "CONFIG",
            "LIVE",
            "affected",
            "element_xml",
            "load",
            "load_any",
            "read",
            "remove",
            "write",
        ),
        "guestmeta.libvirt.reconcile": (
            "Outcome",
            "PassReport",
            "full_pass",
            "sync",
            "sync_safely",
        ),
        "guestmeta.libvirt.session": ("Session",),
    },
)
