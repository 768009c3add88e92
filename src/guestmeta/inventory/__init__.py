"""The host IP inventory: every guest address, read from libvirt domain XML.

Rows come from the ``nova:instance`` element of each domain, read through libvirt's
metadata call or straight from the files libvirtd keeps; the exporter serves them to
Prometheus from an index that libvirt's events keep current. The names load on first
use, so reading files never loads the libvirt binding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from guestmeta._lazy import exports

if TYPE_CHECKING:
    from guestmeta.inventory.connection import scan_connection, scan_uri
    from guestmeta.inventory.rows import COLUMNS, Domain, Failure, Row, Scan, select
    from guestmeta.inventory.xmlfiles import read_domain, scan_files

__all__ = [
    "COLUMNS",
    "Domain",
    "Failure",
    "Row",
    "Scan",
    "read_domain",
    "scan_connection",
    "scan_files",
    "scan_uri",
    "select",
]
__getattr__ = exports(
    __name__,
    {
        "guestmeta.inventory.connection": ("scan_connection", "scan_uri"),
        "guestmeta.inventory.rows": ("COLUMNS", "Domain", "Failure", "Row", "Scan", "select"),
        "guestmeta.inventory.xmlfiles": ("read_domain", "scan_files"),
    },
)
