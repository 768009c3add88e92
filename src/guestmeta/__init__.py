"""guestmeta: identity, network configuration and IPs of libvirt/KVM guests, in OpenStack's
formats."""

from guestmeta.apply import ApplyError, Change, Plan, SourceError, load_document, plan_apply
from guestmeta.model import Topology, ValidationError
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
