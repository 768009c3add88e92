"""guestmeta: identity, network configuration and IPs of libvirt/KVM guests, in OpenStack's
formats.

The names below load on first use: ``guestmeta ips`` and the exporter never touch the
store, and importing SQLAlchemy would double their start-up time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from guestmeta._lazy import exports

if TYPE_CHECKING:
    from guestmeta.apply import ApplyError, SourceError, load_document, plan_apply
    from guestmeta.model import Change, Plan, Topology, ValidationError
    from guestmeta.store import Store

__version__ = "0.1.0"
__all__ = [
    "ApplyError",
    "Change",
    "Plan",
    "SourceError",
    "Store",
    "Topology",
    "ValidationError",
    "__version__",
    "load_document",
    "plan_apply",
]
__getattr__ = exports(
    __name__,
    {
        "guestmeta.apply": ("ApplyError", "SourceError", "load_document", "plan_apply"),
        "guestmeta.model": ("Change", "Plan", "Topology", "ValidationError"),
        "guestmeta.store": ("Store",),
    },
)
