"""Servers (instances), their flavors and the keypairs they boot with."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from guestmeta.model._checks import Checker
from guestmeta.model.errors import plain, shown

USER_DATA_MAX = 65536
KEY_TYPES = ("ssh", "x509")
# libvirt accepts almost anything as a domain name, but '/' breaks its XML file names.
_DOMAIN_NAME_RE = re.compile(r"^[^/\s][^/]*$")
_HOSTNAME_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$")


@dataclass(frozen=True, slots=True)
class Flavor:
    name: str = ""
    id: str | None = None
    vcpus: int = 1
    ram: int = 512  # MiB
    disk: int = 0  # GiB
    ephemeral: int = 0  # GiB
    swap: int = 0  # MiB, as in Nova's flavor API
    extra_specs: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _freeze(self, "extra_specs")
        c = Checker()
        c.text("flavor.name", self.name)
        c.text("flavor.id", self.id)
        for key, value in self.extra_specs.items():
            c.text("flavor.extra_specs", key)
            c.text(f"flavor.extra_specs.{plain(key)}", value)
        c.check("flavor.vcpus", self.vcpus >= 1, f"{self.vcpus} must be at least 1")
        for name in ("ram", "disk", "ephemeral", "swap"):
            value = getattr(self, name)
            c.check(f"flavor.{name}", value >= 0, f"{value} is negative")
        c.done()


@dataclass(frozen=True, slots=True)
class Keypair:
    name: str
    public_key: str
    type: str = "ssh"
    user_id: str | None = None

    def __post_init__(self) -> None:
        c = Checker()
        c.check("name", bool(self.name), "must not be empty")
        c.text("name", self.name)
        c.text("user_id", self.user_id)
        c.check("public_key", bool(self.public_key.strip()), "must not be empty")
        c.check("type", self.type in KEY_TYPES, f"{shown(self.type)} is not one of ssh, x509")
        c.done()


@dataclass(frozen=True, slots=True)
class Server:
    id: str
    name: str
    domain_name: str
    created: datetime
    hostname: str = ""
    host: str | None = None
    project_id: str | None = None
    project_name: str | None = None
    user_id: str | None = None
    user_name: str | None = None
    availability_zone: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    user_data: bytes | None = None
    key_name: str | None = None
    image_id: str | None = None
    flavor: Flavor = field(default_factory=Flavor)
    launch_index: int = 0
    # Names of the security groups, as Nova's server body lists them (EC2's
    # ``security-groups``), and the boot request's reservation (EC2's ``reservation-id``).
    security_groups: tuple[str, ...] = ()
    reservation_id: str | None = None

    def __post_init__(self) -> None:
        _freeze(self, "metadata")
        c = Checker()
        c.check("name", bool(self.name), "must not be empty")
        for name, value in (
            ("id", self.id),
            ("name", self.name),
            ("OS-EXT-SRV-ATTR:instance_name", self.domain_name),
            ("OS-EXT-SRV-ATTR:host", self.host),
            ("tenant_id", self.project_id),
            ("project_name", self.project_name),
            ("user_id", self.user_id),
            ("user_name", self.user_name),
            ("OS-EXT-AZ:availability_zone", self.availability_zone),
            ("key_name", self.key_name),
            ("image", self.image_id),
        ):
            c.text(name, value)
        c.check(
            "OS-EXT-SRV-ATTR:instance_name",
            bool(_DOMAIN_NAME_RE.match(self.domain_name)),
            f"{shown(self.domain_name)} is not a usable libvirt domain name",
        )
        if self.hostname:
            c.check(
                "OS-EXT-SRV-ATTR:hostname",
                bool(_HOSTNAME_RE.match(self.hostname)) and len(self.hostname) <= 253,
                f"{shown(self.hostname)} is not a valid hostname",
            )
        c.check("created", self.created.tzinfo is not None, "must carry a time zone (UTC expected)")
        if self.user_data is not None:
            c.check(
                "OS-EXT-SRV-ATTR:user_data",
                len(self.user_data) <= USER_DATA_MAX,
                f"{len(self.user_data)} bytes is over the 64 KiB limit",
            )
        for key, value in self.metadata.items():
            c.check("metadata", 0 < len(key) <= 255, f"key {shown(key)} must be 1-255 characters")
            c.check("metadata", len(value) <= 255, f"value of {shown(key)} is over 255 characters")
        c.check("OS-EXT-SRV-ATTR:launch_index", self.launch_index >= 0, "must not be negative")
        c.done()


def _freeze(item: object, name: str) -> None:
    """Give a frozen dataclass a read-only copy of a mapping field, so it is immutable too."""
    object.__setattr__(item, name, MappingProxyType(dict(getattr(item, name))))


def sanitize_hostname(name: str) -> str:
    """A hostname from a server name, the way Nova derives it."""
    host = name.lower()
    host = re.sub(r"[ _]", "-", host)
    host = re.sub(r"[^\w.-]+", "", host, flags=re.ASCII)
    host = re.sub(r"--+", "-", host)
    host = host.strip(".-")[:63]
    return host.rstrip("-.") or "server"
