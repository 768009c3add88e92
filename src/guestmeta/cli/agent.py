"""``guestmeta agent``: keeps every domain's metadata on this host equal to the store."""

from __future__ import annotations

from guestmeta.cli.common import app  # noqa: F401
