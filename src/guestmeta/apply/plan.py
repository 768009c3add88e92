"""Turning apply files into the next state of the store, or into one line per problem.

An apply is declarative: each item in the files is the whole truth about that item,
except for what guestmeta generates (ids, MACs, fixed addresses, creation times),
which an item keeps from the store once it has them. Items are matched to stored
ones by id, or by name when the file gives none, so a hand-written file applies
the same way twice. Nothing here touches the store: the result is a new Topology
and the list of changes, or an ApplyError carrying every problem.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from guestmeta.apply.allocate import Allocator, Exhausted
from guestmeta.apply.fields import Fields
from guestmeta.apply.source import Document, RawItem
from guestmeta.model import (
    KINDS,
    AllocationPool,
    Bond,
    FixedIP,
    Flavor,
    FloatingIP,
    HostRoute,
    InvalidItem,
    Keypair,
    Network,
    Port,
    Server,
    Subnet,
    SubPort,
    Topology,
    Trunk,
)
from guestmeta.model.addressing import parse_ip, parse_mac, random_mac
from guestmeta.model.server import sanitize_hostname
from guestmeta.model.topology import is_uuid

SINGULAR = {
    "networks": "network",
    "subnets": "subnet",
    "ports": "port",
    "floatingips": "floating IP",
    "bonds": "bond",
    "keypairs": "keypair",
    "servers": "server",
    "flavors": "flavor",
}


class ApplyError(ValueError):
    """Every problem of an apply, one line each, naming file, item and field."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


@dataclass(frozen=True)
class Change:
    kind: str
    id: str
    action: str  # create | update | delete

    def __str__(self) -> str:
        return f"{self.action} {SINGULAR[self.kind]} {self.id}"


@dataclass
class Plan:
    topology: Topology
    changes: list[Change]


@dataclass
class _Draft:
    raw: RawItem
    f: Fields
    id: str


@dataclass
class _Planner:
    current: Topology
    documents: list[Document]
    prune: bool
    now: datetime
    lines: list[str] = field(default_factory=list)
    drafts: dict[str, list[_Draft]] = field(default_factory=lambda: defaultdict(list))
    where: dict[tuple[str, str], RawItem] = field(default_factory=dict)
    new: Topology = field(default_factory=Topology)

    # -- reporting ---------------------------------------------------------------------

    def report(self, raw: RawItem, field_name: str, message: str) -> None:
        self.lines.append(f"{raw.path}: {raw.label}: {field_name}: {message}")

    def flush(self, draft: _Draft) -> None:
        for field_name, message in draft.f.errors:
            self.report(draft.raw, field_name, message)
        draft.f.errors.clear()

    def build(self, draft: _Draft, cls: type, **kwargs: Any) -> Any:
        """Construct a model object, turning its field checks into lines."""
        self.flush(draft)
        try:
            return cls(**kwargs)
        except InvalidItem as exc:
            for err in exc.errors:
                self.report(draft.raw, err.field, err.message)
            return None

    # -- step 1: ids -------------------------------------------------------------------

    def assign_ids(self) -> None:
        first: dict[tuple[str, str], RawItem] = {}
        for doc in self.documents:
            for raw in doc.items:
                f = Fields(raw.data)
                ident = self.identify(raw, f)
                if ident is None:
                    self.flush(_Draft(raw, f, ""))
                    continue
                if ident == "":  # an id-less floating IP, matched later
                    self.drafts[raw.kind].append(_Draft(raw, f, ident))
                    continue
                key = (raw.kind, ident)
                if key in first:
                    other = first[key]
                    self.report(raw, "id", f"also defined at {other.path}: {other.label}")
                    continue
                first[key] = raw
                self.drafts[raw.kind].append(_Draft(raw, f, ident))
                self.where[key] = raw

    def identify(self, raw: RawItem, f: Fields) -> str | None:
        name = f.text("name")
        if raw.kind == "keypairs":
            if not name:
                f.error("name", "is required")
            return name
        ident = f.text("id")
        if ident:
            return ident
        if raw.kind == "floatingips":
            return ""  # matched by address or port once ports are known
        if raw.kind == "flavors":
            if not name:
                f.error("id", "give an id or a name")
            return name
        if not name:
            f.error("id", "give an id or a name, so the item can be found again")
            return None
        stored = [item.id for item in self.stored(raw.kind) if getattr(item, "name", None) == name]
        if len(stored) > 1:
            f.error("name", f"{len(stored)} stored {raw.kind} are named {name!r}; give an id")
            return None
        # Stable per name within this apply, so two items of one name collide as duplicates.
        return stored[0] if stored else f"new:{name}"

    def stored(self, kind: str) -> list[Any]:
        return list(self.current.collection(kind).values())

    # -- step 2: what stays, and how names resolve --------------------------------------

    def retained(self, kind: str) -> dict[str, Any]:
        pruned = self.prune and any(kind in doc.kinds for doc in self.documents)
        if pruned:
            return {}
        drafted = {d.id for d in self.drafts[kind]}
        return {k: v for k, v in self.current.collection(kind).items() if k not in drafted}

    def index_names(self) -> None:
        self.ids: dict[str, set[str]] = {}
        self.names: dict[str, dict[str, list[str]]] = {}
        for kind in (*KINDS, "flavors"):
            ids: set[str] = set()
            names: dict[str, list[str]] = defaultdict(list)
            if kind != "flavors":
                for ident, item in self.retained(kind).items():
                    ids.add(ident)
                    if getattr(item, "name", ""):
                        names[item.name].append(ident)
            for d in self.drafts[kind]:
                if d.id.startswith("new:"):
                    d.id = str(uuid.uuid4())
                    self.where[(kind, d.id)] = d.raw
                ids.add(d.id)
                name = d.raw.data.get("name")
                if isinstance(name, str) and name and kind != "keypairs":
                    names[name].append(d.id)
            self.ids[kind] = ids
            self.names[kind] = names

    def resolve(self, f: Fields, field_name: str, kind: str, value: str) -> str | None:
        if value in self.ids[kind]:
            return value
        matches = self.names[kind].get(value, [])
        if len(matches) == 1:
            return matches[0]
        if matches:
            f.error(field_name, f"{value!r} is ambiguous: {len(matches)} {kind} have that name")
        else:
            f.error(field_name, f"unknown {SINGULAR[kind]} {value!r}")
        return None

    def ref(self, f: Fields, kind: str, *keys: str, required: bool = False) -> str | None:
        value = f.text(*keys)
        if not value:
            if required and not f.has(*keys):
                f.error(keys[0], "is required")
            elif required:
                f.error(keys[0], "must not be empty")
            return None
        return self.resolve(f, keys[0], kind, value)

    # -- step 3: items -----------------------------------------------------------------

    def build_networks(self) -> None:
        self.new.networks = dict(self.retained("networks"))
        for d in self.drafts["networks"]:
            f = d.f
            net = self.build(
                d,
                Network,
                id=d.id,
                name=f.text("name") or "",
                mtu=f.integer("mtu"),
                network_type=f.text("provider:network_type"),
                physical_network=f.text("provider:physical_network"),
                segmentation_id=f.integer("provider:segmentation_id"),
                external=bool(f.boolean("router:external")),
                shared=bool(f.boolean("shared")),
                project_id=f.text("project_id", "tenant_id"),
            )
            if net is not None:
                self.new.networks[d.id] = net

    def build_subnets(self) -> None:
        self.new.subnets = dict(self.retained("subnets"))
        for d in self.drafts["subnets"]:
            f = d.f
            cidr = f.text("cidr", nullable=False)
            if cidr is None and not f.has("cidr"):
                f.error("cidr", "is required")
            version = f.integer("ip_version")
            if version is None and cidr:
                try:
                    version = parse_ip(cidr.split("/")[0]).version
                except ValueError:
                    version = 4
            routes = []
            for i, r in enumerate(f.items("host_routes") or []):
                sub = f.sub(f"host_routes[{i}]", r)
                if sub is not None:
                    routes.append(
                        HostRoute(sub.text("destination") or "", sub.text("nexthop") or "")
                    )
            pools = []
            for i, p in enumerate(f.items("allocation_pools") or []):
                sub = f.sub(f"allocation_pools[{i}]", p)
                if sub is not None:
                    pools.append(AllocationPool(sub.text("start") or "", sub.text("end") or ""))
            dns = self.strings(f, "dns_nameservers")
            gateway = f.text("gateway_ip")
            enable_dhcp = f.boolean("enable_dhcp")
            subnet = self.build(
                d,
                Subnet,
                id=d.id,
                network_id=self.ref(f, "networks", "network_id", required=True) or "",
                cidr=cidr or "",
                ip_version=version or 4,
                name=f.text("name") or "",
                gateway_ip=gateway or None,
                enable_dhcp=True if enable_dhcp is None else enable_dhcp,
                ipv6_address_mode=f.text("ipv6_address_mode"),
                ipv6_ra_mode=f.text("ipv6_ra_mode"),
                dns_nameservers=tuple(dns),
                host_routes=tuple(routes),
                allocation_pools=tuple(pools),
                project_id=f.text("project_id", "tenant_id"),
            )
            if subnet is not None:
                self.new.subnets[d.id] = subnet

    def strings(self, f: Fields, key: str) -> list[str]:
        out = []
        for i, value in enumerate(f.items(key) or []):
            if isinstance(value, str):
                out.append(value)
            else:
                f.error(f"{key}[{i}]", f"must be a string, not {type(value).__name__}")
        return out

    def claims(self) -> dict[str, _Draft]:
        """Ports that servers name in their ``networks`` list: port id -> server draft."""
        claimed: dict[str, _Draft] = {}
        for d in self.drafts["servers"]:
            for i, entry in enumerate(d.f.items("networks") or []):
                sub = d.f.sub(f"networks[{i}]", entry)
                if sub is None:
                    continue
                port_id = self.ref(sub, "ports", "port", required=True)
                if port_id is None:
                    continue
                if port_id in claimed and claimed[port_id].id != d.id:
                    other = claimed[port_id].raw
                    sub.error("port", f"port {port_id} is also claimed by {other.path}: {other.label}")
                    continue
                claimed[port_id] = d
        return claimed

    def device(self, f: Fields, claimed_by: str | None) -> str:
        value = f.text("device_id") or ""
        owner = f.text("device_owner") or ""
        server_id = ""
        if value in self.ids["servers"]:
            server_id = value
        elif value and (self.names["servers"].get(value) or not (is_uuid(value) or owner)):
            server_id = self.resolve(f, "device_id", "servers", value) or ""
        if claimed_by is not None:
            if value and (server_id or value) != claimed_by:
                f.error(
                    "device_id",
                    f"port is claimed by server {claimed_by} but plugged into {value}",
                )
            return claimed_by
        return server_id or value

    def build_ports(self) -> None:
        claimed = self.claims()
        retained = self.retained("ports")
        self.new.ports = {}
        seq = max((p.seq for p in self.current.ports.values()), default=0)
        for pid, server in claimed.items():
            port = retained.get(pid)
            if port is not None and port.device_id != server.id:
                if port.device_id in self.ids["servers"]:
                    self.report(
                        server.raw,
                        "networks",
                        f"port {pid} is plugged into server {port.device_id}",
                    )
                seq += 1
                retained[pid] = replace(port, device_id=server.id, seq=seq)
        self.new.ports.update(retained)
        taken = {p.mac_address for p in retained.values()}
        explicit: dict[str, str] = {}
        for d in self.drafts["ports"]:
            mac = d.f.text("mac_address")
            if mac:
                try:
                    explicit[d.id] = parse_mac(mac)
                    taken.add(explicit[d.id])
                except ValueError as exc:
                    d.f.error("mac_address", str(exc))
        allocator = Allocator(self.new.subnets)
        for port in retained.values():
            for ip in port.fixed_ips:
                allocator.reserve(ip.subnet_id, ip.ip_address)
        pending: list[tuple[_Draft, dict[str, Any], list[tuple[str, str | None]]]] = []
        for d in self.drafts["ports"]:
            f = d.f
            old = self.current.ports.get(d.id)
            network_id = self.ref(f, "networks", "network_id", required=True) or ""
            mac = explicit.get(d.id) or (old.mac_address if old else random_mac(taken))
            entries = self.fixed_ip_entries(f, network_id, old)
            for subnet_id, address in entries:
                if address is not None:
                    allocator.reserve(subnet_id, address)
            claimer = claimed.get(d.id)
            device_id = self.device(f, claimer.id if claimer else None)
            if old is not None and old.device_id == device_id:
                port_seq = old.seq
            else:
                seq += 1
                port_seq = seq
            owner = f.text("device_owner")
            if owner is None and device_id in self.ids["servers"]:
                owner = "compute:nova"
            kwargs: dict[str, Any] = dict(
                id=d.id,
                network_id=network_id,
                mac_address=mac,
                name=f.text("name") or "",
                vif_type=f.text("binding:vif_type"),
                vnic_type=f.text("binding:vnic_type") or "normal",
                host=f.text("binding:host_id") or None,
                device_id=device_id,
                device_owner=owner or "",
                project_id=f.text("project_id", "tenant_id"),
                trunk=self.trunk(f, old),
                seq=port_seq,
            )
            pending.append((d, kwargs, entries))
        for d, kwargs, entries in pending:
            fixed = []
            for i, (subnet_id, address) in enumerate(entries):
                if address is None:
                    try:
                        address = allocator.allocate(subnet_id, kwargs["mac_address"])
                    except Exhausted as exc:
                        d.f.error(f"fixed_ips[{i}]", str(exc))
                        continue
                fixed.append(FixedIP(subnet_id, address))
            port = self.build(d, Port, fixed_ips=tuple(fixed), **kwargs)
            if port is not None:
                self.new.ports[d.id] = port

    def fixed_ip_entries(
        self, f: Fields, network_id: str, old: Port | None
    ) -> list[tuple[str, str | None]]:
        """(subnet id, address or None to allocate) for each fixed IP the port should have."""
        given = f.items("fixed_ips")
        if given is None:
            if f.has("fixed_ips"):  # null: no addresses at all
                return []
            if old is not None and old.network_id == network_id:
                return [(ip.subnet_id, ip.ip_address) for ip in old.fixed_ips]
            return [(sid, None) for sid in Allocator(self.new.subnets).default_subnets(network_id)]
        kept = defaultdict(list)
        if old is not None:
            for ip in old.fixed_ips:
                kept[ip.subnet_id].append(ip.ip_address)
        entries: list[tuple[str, str | None]] = []
        for i, entry in enumerate(given):
            sub = f.sub(f"fixed_ips[{i}]", entry)
            if sub is None:
                continue
            subnet_id = self.ref(sub, "subnets", "subnet_id", "subnet")
            address = sub.text("ip_address")
            if address is not None:
                try:
                    address = str(parse_ip(address))
                except ValueError as exc:
                    sub.error("ip_address", str(exc))
                    continue
                if subnet_id is None and not sub.has("subnet_id", "subnet"):
                    subnet_id = self.subnet_for(sub, network_id, address)
            elif subnet_id is None:
                if not sub.has("subnet_id", "subnet"):
                    sub.error("subnet_id", "give a subnet_id, an ip_address or both")
                continue
            elif kept[subnet_id]:
                address = kept[subnet_id].pop(0)
            if subnet_id is not None:
                entries.append((subnet_id, address))
        return entries

    def subnet_for(self, f: Fields, network_id: str, address: str) -> str | None:
        ip = parse_ip(address)
        for subnet in self.new.subnets.values():
            if subnet.network_id == network_id and ip in subnet.network:
                return subnet.id
        f.error("ip_address", f"{address} is in no subnet of network {network_id}")
        return None

    def trunk(self, f: Fields, old: Port | None) -> Trunk | None:
        details = f.mapping("trunk_details")
        if details is None:
            return None
        t = f.sub("trunk_details", details)
        assert t is not None
        trunk_id = t.text("trunk_id") or (old.trunk.id if old and old.trunk else str(uuid.uuid4()))
        subs = []
        for i, entry in enumerate(t.items("sub_ports") or []):
            s = t.sub(f"sub_ports[{i}]", entry)
            if s is None:
                continue
            port_id = self.ref(s, "ports", "port_id", "port", required=True)
            vlan = s.integer("segmentation_id", nullable=False)
            if vlan is None and not s.has("segmentation_id"):
                s.error("segmentation_id", "is required")
            if port_id is not None and vlan is not None:
                subs.append(SubPort(port_id, vlan, s.text("segmentation_type") or "vlan"))
        return Trunk(trunk_id, tuple(subs))

    def build_floatingips(self) -> None:
        retained = self.retained("floatingips")
        by_address = {f.floating_ip_address: f.id for f in self.current.floatingips.values()}
        by_port = {f.port_id: f.id for f in self.current.floatingips.values() if f.port_id}
        built: dict[str, FloatingIP] = {}
        for d in self.drafts["floatingips"]:
            f = d.f
            port_id = self.ref(f, "ports", "port_id")
            network_id = self.ref(f, "networks", "floating_network_id")
            address = f.text("floating_ip_address")
            if not d.id:
                d.id = (
                    by_address.get(address or "")
                    or (by_port.get(port_id) if port_id and not address else None)
                    or str(uuid.uuid4())
                )
                if (("floatingips", d.id)) in self.where:
                    self.report(d.raw, "floating_ip_address", "the same floating IP twice")
                    continue
                self.where[("floatingips", d.id)] = d.raw
            retained.pop(d.id, None)
            old = self.current.floatingips.get(d.id)
            if not address:
                address = old.floating_ip_address if old else self.allocate_floating(d, network_id)
            fixed = f.text("fixed_ip_address")
            port = self.new.ports.get(port_id or "")
            if fixed is None and port is not None:
                v4 = [ip.ip_address for ip in port.fixed_ips if ":" not in ip.ip_address]
                if not v4:
                    f.error("fixed_ip_address", f"port {port.id} has no IPv4 address to map to")
                fixed = v4[0] if v4 else None
            fip = self.build(
                d,
                FloatingIP,
                id=d.id,
                floating_ip_address=address or "",
                floating_network_id=network_id,
                port_id=port_id,
                fixed_ip_address=fixed,
                project_id=f.text("project_id", "tenant_id"),
            )
            if fip is not None:
                built[d.id] = fip
        self.new.floatingips = {**retained, **built}

    def allocate_floating(self, d: _Draft, network_id: str | None) -> str | None:
        subnets = {
            s.id: s
            for s in self.new.subnets.values()
            if s.network_id == network_id and s.ip_version == 4
        }
        if not subnets:
            d.f.error("floating_ip_address", "is required when floating_network_id has no subnet")
            return None
        allocator = Allocator(subnets)
        for port in self.new.ports.values():
            for ip in port.fixed_ips:
                allocator.reserve(ip.subnet_id, ip.ip_address)
        for fip in self.new.floatingips.values():
            for sid in subnets:
                allocator.reserve(sid, fip.floating_ip_address)
        for sid in subnets:
            try:
                return allocator.allocate(sid, "")
            except Exhausted:
                continue
        d.f.error("floating_ip_address", "the floating network has no free address")
        return None

    def build_bonds(self) -> None:
        self.new.bonds = dict(self.retained("bonds"))
        for d in self.drafts["bonds"]:
            f = d.f
            members = []
            for i, value in enumerate(f.items("ports") or []):
                if isinstance(value, str):
                    member = self.resolve(f, f"ports[{i}]", "ports", value)
                    if member is not None:
                        members.append(member)
                else:
                    f.error(f"ports[{i}]", f"must be a string, not {type(value).__name__}")
            if not f.has("ports"):
                f.error("ports", "is required")
            bond = self.build(
                d,
                Bond,
                id=d.id,
                ports=tuple(members),
                name=f.text("name") or "",
                mode=f.text("mode", "bond_mode") or "active-backup",
                miimon=f.integer("miimon", "bond_miimon"),
                xmit_hash_policy=f.text("xmit_hash_policy", "bond_xmit_hash_policy"),
            )
            if bond is not None:
                self.new.bonds[d.id] = bond

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
            flavor = self.flavor_fields(d.f, d.raw.data.get("name"))
            self.flush(d)
            if flavor is not None:
                found[d.id] = flavor
                if isinstance(d.raw.data.get("name"), str):
                    found.setdefault(d.raw.data["name"], flavor)
        return found

    def flavor_fields(self, f: Fields, name: Any) -> Flavor | None:
        swap = f.data.get("swap")
        if swap == "":  # Nova reports no swap as an empty string
            swap = 0
        elif swap is not None:
            swap = f.integer("swap")
        extra = f.mapping("extra_specs") or {}
        try:
            return Flavor(
                name=f.text("original_name", "name") or "",
                id=f.text("id"),
                vcpus=f.integer("vcpus") or 1,
                ram=f.integer("ram") or 0,
                disk=f.integer("disk") or 0,
                ephemeral=f.integer("OS-FLV-EXT-DATA:ephemeral", "ephemeral") or 0,
                swap=swap or 0,
                extra_specs={str(k): str(v) for k, v in extra.items()},
            )
        except InvalidItem as exc:
            for err in exc.errors:
                f.error(err.field.removeprefix("flavor."), err.message)
            return None

    def server_flavor(self, f: Fields, flavors: dict[str, Flavor]) -> Flavor:
        value = f.data.get("flavor")
        if value is None:
            return Flavor()
        if isinstance(value, str):
            found = flavors.get(value)
            if found is None:
                f.error("flavor", f"unknown flavor {value!r}")
            return found or Flavor()
        sub = f.sub("flavor", value)
        if sub is None:
            return Flavor()
        if sub.has("vcpus", "ram"):
            return self.flavor_fields(sub, None) or Flavor()
        ref = sub.text("id", "name") or ""
        found = flavors.get(ref)
        if found is None:
            sub.error("id", f"unknown flavor {ref!r} (list it under flavors, or embed it)")
        return found or Flavor()

    def build_servers(self) -> None:
        self.new.servers = dict(self.retained("servers"))
        flavors = self.flavors()
        for d in self.drafts["servers"]:
            f = d.f
            old = self.current.servers.get(d.id)
            name = f.text("name") or ""
            key_name = f.text("key_name")
            if key_name and key_name not in self.ids["keypairs"]:
                f.error("key_name", f"unknown keypair {key_name!r}")
            image = f.data.get("image")
            image_id = image.get("id") if isinstance(image, dict) else image
            metadata = f.mapping("metadata") or {}
            for k, v in metadata.items():
                if not isinstance(v, str):
                    f.error(f"metadata.{k}", f"must be a string, not {type(v).__name__}")
            server = self.build(
                d,
                Server,
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
            )
            if server is not None:
                self.new.servers[d.id] = server

    def created(self, f: Fields, old: Server | None) -> datetime:
        text = f.text("created")
        if text is None:
            return old.created if old else self.now
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            f.error("created", f"{text!r} is not an ISO 8601 time")
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

    # -- step 4: the whole ---------------------------------------------------------------

    def check_whole(self) -> None:
        for problem in self.new.problems():
            raw = self.where.get((problem.kind, problem.key))
            if raw is not None:
                self.report(raw, problem.field, problem.message)
            else:
                self.lines.append(f"stored {problem}")

    def run(self) -> Plan:
        self.assign_ids()
        self.index_names()
        self.build_networks()
        self.build_subnets()
        self.build_ports()
        self.build_floatingips()
        self.build_bonds()
        self.build_keypairs()
        self.build_servers()
        for drafts in self.drafts.values():
            for d in drafts:
                self.flush(d)
        if not self.lines:
            self.check_whole()
        if self.lines:
            raise ApplyError(list(dict.fromkeys(self.lines)))
        return Plan(self.new, diff(self.current, self.new))


def diff(old: Topology, new: Topology) -> list[Change]:
    changes: list[Change] = []
    for kind in KINDS:
        before, after = old.collection(kind), new.collection(kind)
        for ident, item in after.items():
            if ident not in before:
                changes.append(Change(kind, ident, "create"))
            elif before[ident] != item or _seq(before[ident]) != _seq(item):
                changes.append(Change(kind, ident, "update"))
        changes += [Change(kind, i, "delete") for i in before if i not in after]
    return changes


def _seq(item: object) -> int:
    return item.seq if isinstance(item, Port) else 0


def plan_apply(
    current: Topology, documents: list[Document], *, prune: bool = False, now: datetime | None = None
) -> Plan:
    """The next state of the store after applying ``documents``; raises ApplyError."""
    return _Planner(current, documents, prune, now or datetime.now(UTC)).run()
