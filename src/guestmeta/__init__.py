"""guestmeta: identity, network configuration and IPs of libvirt/KVM guests, in OpenStack's
formats.

The names below load on first use: ``guestmeta ips`` and the exporter never touch the
store, and importing SQLAlchemy would double their start-up time.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from guestmeta.apply import ApplyError, Change, Plan, SourceError, load_document, plan_apply
    from guestmeta.model import Topology, ValidationError
    from guestmeta.store import Store

__version__ = "0.1.0"
_HOMES = {
    "ApplyError": "guestmeta.apply",
    "Change": "guestmeta.apply",
    "Plan": "guestmeta.apply",
    "SourceError": "guestmeta.apply",
    "load_document": "guestmeta.apply",
    "plan_apply": "guestmeta.apply",
    "Topology": "guestmeta.model",
    "ValidationError": "guestmeta.model",
    "Store": "guestmeta.store",
}
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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'guestmeta' has no attribute {name!r}")
    return getattr(import_module(home), name)
