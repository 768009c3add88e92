"""``guestmeta ips`` and ``guestmeta exporter``: the host's guest IPs, read from domain XML."""

from __future__ import annotations

from guestmeta.cli.common import app  # noqa: F401
