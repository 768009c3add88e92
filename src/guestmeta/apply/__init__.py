"""``guestmeta apply``: OpenStack API bodies in, the store's next state out."""

from guestmeta.apply.errors import ApplyError
from guestmeta.apply.plan import plan_apply
from guestmeta.apply.source import Document, SourceError, load_document
from guestmeta.model.changes import Change, Plan

__all__ = ["ApplyError", "Change", "Document", "Plan", "SourceError", "load_document", "plan_apply"]
