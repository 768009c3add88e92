"""``guestmeta apply``: OpenStack API bodies in, the store's next state out."""

from guestmeta.apply.changes import ApplyError, Change, Plan
from guestmeta.apply.plan import plan_apply
from guestmeta.apply.source import Document, SourceError, load_document

__all__ = ["ApplyError", "Change", "Document", "Plan", "SourceError", "load_document", "plan_apply"]
