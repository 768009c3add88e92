"""The store: SQLAlchemy 2 on SQLite (embedded default) or PostgreSQL (shared)."""

from guestmeta.store.engine import default_url
from guestmeta.store.store import Reader, Result, Store, StoreError

__all__ = ["Reader", "Result", "Store", "StoreError", "default_url"]
