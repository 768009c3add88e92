"""Building keypairs, flavors and servers (user data, creation time, flavor lookup)."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from guestmeta.apply.context import Context
from guestmeta.apply.fields import Fields, json_type
from guestmeta.model import Flavor, InvalidItem, Keypair, Server
from guestmeta.model.errors import plain, shown
from guestmeta.model.server import sanitize_hostname


class ServerSteps(Context):
    def build_keypairs(self) -> None:
        self.new.keypairs = dict(self.retained("keypairs"))
        for d in self.drafts["keypairs"]:
            f = d.f
            if not f.has("public_key"):
                f.error("public_key", "is required")
            key = self.build(
                d,
                Keypair,
                name=d.id,
                public_key=(f.text("public_key") or "").strip(),
                type=f.text("type") or "ssh",
                user_id=f.text("user_id"),
            )
            if key is not None:
                self.new.keypairs[d.id] = key

    def flavors(self) -> dict[str, Flavor]:
        found: dict[str, Flavor] = {}
        for d in self.drafts["flavors"]:
            flavor = self.flavor_fields(d.f)
            self.flush(d)
            if flavor is not None:
                found[d.id] = flavor
                if isinstance(d.raw.data.get("name"), str):
                    found.setdefault(d.raw.data["name"], flavor)
        return found

    def flavor_fields(self, f: Fields) -> Flavor | None:
        swap = f.data.get("swap")
        if swap == "":  # Nova reports no swap as an empty string
            swap = 0
        elif swap is not None:
            swap = f.integer("swap")
        extra = f.mapping("extra_specs") or {}
        vcpus, ram, disk = f.integer("vcpus"), f.integer("ram"), f.integer("disk")
        ephemeral = f.integer("OS-FLV-EXT-DATA:ephemeral", "ephemeral")
        try:
            return Flavor(
                name=f.text("original_name", "name") or "",
                id=f.text("id"),
                vcpus=1 if vcpus is None else vcpus,
                ram=0 if ram is None else ram,
                disk=0 if disk is None else disk,
                ephemeral=0 if ephemeral is None else ephemeral,
                swap=swap or 0,
                extra_specs=self.extra_specs(f, extra),
            )
        except InvalidItem as exc:
            for err in exc.errors:
                f.error(err.field.removeprefix("flavor."), err.message)
            return None

    @staticmethod
    def extra_specs(f: Fields, extra: dict[str, Any]) -> dict[str, str]:
        """Nova's extra specs are strings; numbers and booleans are written as text."""
        specs = {}
        for key, value in extra.items():
            if isinstance(value, (str, int, float, bool)):
                specs[key] = str(value).lower() if isinstance(value, bool) else str(value)
            else:
                f.error(f"extra_specs.{plain(key)}", f"must be a string, not {json_type(value)}")
        return specs

    def server_flavor(self, f: Fields, flavors: dict[str, Flavor]) -> Flavor:
        value = f.data.get("flavor")
        if value is None:
            return Flavor()
        if isinstance(value, str):
            found = flavors.get(value)
            if found is None:
                f.error("flavor", f"unknown flavor {shown(value)}")
            return found or Flavor()
        sub = f.sub("flavor", value)
        if sub is None:
            return Flavor()
        if sub.has("vcpus", "ram"):
            return self.flavor_fields(sub) or Flavor()
        ref = sub.text("id", "name") or ""
        found = flavors.get(ref)
        if found is None:
            sub.error("id", f"unknown flavor {shown(ref)} (list it under flavors, or embed it)")
        return found or Flavor()

    def build_servers(self) -> None:
        self.new.servers = dict(self.retained("servers"))
        flavors = self.flavors()
        for d in self.drafts["servers"]:
            f = d.f
            old = self.current.servers.get(d.id)
            name = f.text("name") or ""
            key_name = f.text("key_name")  # checked with the whole, like every reference
            image = f.data.get("image")
            image_id = image.get("id") if isinstance(image, dict) else image
            metadata = f.mapping("metadata") or {}
            for k, v in metadata.items():
                if not isinstance(v, str):
                    f.error(f"metadata.{plain(k)}", f"must be a string, not {json_type(v)}")
            server = self.build(
                d,
                Server,
                aliases={"OS-EXT-SRV-ATTR:user_data": "user_data"} if f.has("user_data") else None,
                id=d.id,
                name=name,
                domain_name=f.text("OS-EXT-SRV-ATTR:instance_name")
                or (old.domain_name if old else name),
                created=self.created(f, old),
                hostname=f.text("OS-EXT-SRV-ATTR:hostname") or sanitize_hostname(name),
                host=f.text("OS-EXT-SRV-ATTR:host"),
                project_id=f.text("tenant_id", "project_id"),
                project_name=f.text("project_name"),
                user_id=f.text("user_id"),
                user_name=f.text("user_name"),
                availability_zone=f.text("OS-EXT-AZ:availability_zone"),
                metadata={k: v for k, v in metadata.items() if isinstance(v, str)},
                user_data=self.user_data(f),
                key_name=key_name or None,
                image_id=image_id if isinstance(image_id, str) and image_id else None,
                flavor=self.server_flavor(f, flavors),
                launch_index=f.integer("OS-EXT-SRV-ATTR:launch_index") or 0,
                security_groups=self.security_groups(f),
                reservation_id=f.text("OS-EXT-SRV-ATTR:reservation_id") or None,
            )
            if server is not None:
                self.new.servers[d.id] = server

    def security_groups(self, f: Fields) -> tuple[str, ...]:
        """Group names: Nova's body lists ``{"name": ...}`` mappings; plain names also do."""
        names: list[str] = []
        for i, item in enumerate(f.items("security_groups") or []):
            name = item.get("name") if isinstance(item, dict) else item
            if isinstance(name, str) and name:
                names.append(name)
            else:
                f.error(f"security_groups[{i}]", "must be a name or a mapping with a name")
        return tuple(dict.fromkeys(names))

    def created(self, f: Fields, old: Server | None) -> datetime:
        text = f.text("created")
        if text is None:
            return old.created if old else self.now
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            f.error("created", f"{shown(text)} is not an ISO 8601 time")
            return self.now
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.astimezone(UTC)

    def user_data(self, f: Fields) -> bytes | None:
        encoded = f.text("OS-EXT-SRV-ATTR:user_data")
        plain = f.text("user_data")
        if encoded is not None and plain is not None:
            f.error("user_data", "give either user_data or OS-EXT-SRV-ATTR:user_data, not both")
        if plain is not None:
            return plain.encode()
        if encoded is None:
            return None
        try:
            return base64.b64decode("".join(encoded.split()), validate=True)
        except (binascii.Error, ValueError):
            f.error("OS-EXT-SRV-ATTR:user_data", "is not valid base64")
            return None
