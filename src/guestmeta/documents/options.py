"""The settings that change what a guest reads, shared by the service and the drives.

One frozen object, passed to both trees, so that a server's config drive and its metadata
service can never disagree on them.

- ``dhcp_domain``: appended to the host name in ``meta_data.json`` and the EC2 tree, as
  Nova's ``[api] dhcp_domain`` does. The default is Nova's own, ``novalocal``, so that a
  guest moved from Nova sees the same name; ``""`` gives the bare host name.
- ``vendor``: the operator's vendor data directory (``vendor_data.json`` is Nova's
  static vendor data; see :mod:`guestmeta.documents.vendor_data`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from guestmeta.documents.vendor_data import VendorData

DEFAULT_DHCP_DOMAIN = "novalocal"


@dataclass(frozen=True, slots=True)
class DocumentOptions:
    dhcp_domain: str = DEFAULT_DHCP_DOMAIN
    vendor: VendorData = field(default_factory=VendorData)
