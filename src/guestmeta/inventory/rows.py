"""One row per guest address: what ``guestmeta ips`` prints and the exporter exports."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from guestmeta.libvirt.metadata import IP, InstanceMetadata, PortIPs

# The element's types are named here too: the reader of libvirtd's plain XML
# (``fastread``) builds them and takes them from the inventory, not from libvirt's side.
__all__ = [
    "COLUMNS",
    "IP",
    "Domain",
    "Failure",
    "InstanceMetadata",
    "PortIPs",
    "Row",
    "Scan",
    "same_ip",
    "select",
]

COLUMNS = (
    "domain",
    "instance_uuid",
    "instance_name",
    "project_uuid",
    "port_uuid",
    "ip",
    "type",
    "ip_version",
    "state",
)


@dataclass(frozen=True, slots=True)
class Row:
    domain: str
    instance_uuid: str
    instance_name: str | None
    project_uuid: str | None
    port_uuid: str | None
    ip: str | None
    type: str | None  # "fixed" or "floating"
    ip_version: int | None
    state: str | None  # libvirt's state name when known ("running", "shutoff", ...)

    def as_dict(self) -> dict[str, str | int | None]:
        return {name: getattr(self, name) for name in COLUMNS}


@dataclass(frozen=True, slots=True)
class Domain:
    """What one domain said: its identity, state and our element (None if it has none).

    The element is read brief: its name, project and ports, which is all a row holds.
    """

    name: str
    uuid: str
    state: str | None
    metadata: InstanceMetadata | None

    def rows(self, include_bare: bool = False) -> list[Row]:
        """One row per address; a domain without addresses gives one bare row on request."""
        meta = self.metadata
        name = meta.name if meta else None
        project = meta.project_uuid if meta else None
        rows = [
            Row(
                self.name,
                self.uuid,
                name,
                project,
                port.uuid,
                ip.address,
                ip.type,
                ip.ip_version,
                self.state,
            )
            for port in (meta.ports if meta else ())
            for ip in port.ips
        ]
        if not rows and include_bare:
            bare = Row(self.name, self.uuid, name, project, None, None, None, None, self.state)
            rows.append(bare)
        return rows


@dataclass(frozen=True, slots=True)
class Failure:
    """A domain (or file) that could not be read, and why, in one line."""

    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclass
class Scan:
    """The result of reading a host: the domains read and the ones that failed."""

    domains: list[Domain]
    failures: list[Failure]

    def rows(self, include_bare: bool = False) -> list[Row]:
        return [row for dom in self.domains for row in dom.rows(include_bare)]


def same_ip(a: str, b: str) -> bool:
    """Compare addresses by value, so 2001:DB8::1 finds 2001:db8:0::1."""
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b


def select(rows: list[Row], ip: str | None = None, instance: str | None = None) -> list[Row]:
    """Rows for one address and/or one instance (its uuid, name or domain name)."""
    if ip is not None:
        rows = [r for r in rows if r.ip is not None and same_ip(r.ip, ip)]
    if instance is not None:
        rows = [r for r in rows if instance in (r.instance_uuid, r.instance_name, r.domain)]
    return rows
