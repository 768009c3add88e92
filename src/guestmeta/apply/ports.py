"""Building ports (MACs, fixed IPs, trunks, which server claims them), floating IPs and bonds."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import replace
from typing import Any

from guestmeta.apply.allocate import Allocator, Exhausted
from guestmeta.apply.context import Context, Draft
from guestmeta.apply.fields import Fields, json_type
from guestmeta.model import Bond, FixedIP, FloatingIP, Port, SubPort, Trunk
from guestmeta.model.addressing import parse_ip, parse_mac, random_mac
from guestmeta.model.topology import is_uuid


class PortSteps(Context):
    def claims(self) -> dict[str, tuple[Draft, int]]:
        """Ports that servers name in their ``networks`` list: port id -> (server draft, index)."""
        claimed: dict[str, tuple[Draft, int]] = {}
        for d in self.drafts["servers"]:
            for i, entry in enumerate(d.f.items("networks") or []):
                sub = d.f.sub(f"networks[{i}]", entry)
                if sub is None:
                    continue
                port_id = self.ref(sub, "ports", "port", required=True)
                if port_id is None:
                    continue
                if port_id in claimed and claimed[port_id][0].id != d.id:
                    other = claimed[port_id][0].raw
                    sub.error(
                        "port",
                        f"{self.mention('ports', port_id)} is also claimed by "
                        f"{other.path}: {other.label}",
                    )
                    continue
                claimed[port_id] = (d, i)
        return claimed

    def device(self, f: Fields, claimed_by: Draft | None) -> str:
        value = f.text("device_id") or ""
        owner = f.text("device_owner") or ""
        server_id = ""
        if value in self.ids["servers"]:
            server_id = value
        elif value and (self.names["servers"].get(value) or not (is_uuid(value) or owner)):
            server_id = self.resolve(f, "device_id", "servers", value) or ""
        if claimed_by is not None:
            if value and (server_id or value) != claimed_by.id:
                f.error(
                    "device_id",
                    f"port is claimed by {claimed_by.raw.path}: {claimed_by.raw.label} "
                    f"but plugged into {value}",
                )
            return claimed_by.id
        return server_id or value

    def build_ports(self) -> None:
        claimed = self.claims()
        retained = self.retained("ports")
        self.new.ports = {}
        seq = self.current.last_seq()
        for pid, (server, index) in claimed.items():
            port = retained.get(pid)
            if port is not None and port.device_id != server.id:
                if port.device_id in self.ids["servers"]:
                    self.report(
                        server.raw,
                        f"networks[{index}].port",
                        f"port {pid} is plugged into server {port.device_id}",
                    )
                seq += 1
                retained[pid] = replace(port, device_id=server.id, seq=seq)
        self.new.ports.update(retained)
        taken = {p.mac_address for p in (*self.current.ports.values(), *retained.values())}
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
        pending: list[tuple[Draft, dict[str, Any], list[tuple[str, str | None]]]] = []
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
            device_id = self.device(f, claimer[0] if claimer else None)
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
                tag=f.text("tag") or None,
                vlan=self.vif_vlan(f),
                seq=port_seq,
            )
            pending.append((d, kwargs, entries))
        for d, kwargs, entries in pending:
            fixed = []
            for i, (subnet_id, address) in enumerate(entries):
                if subnet_id not in self.new.subnets:
                    continue  # the subnet itself was reported
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

    def vif_vlan(self, f: Fields) -> int | None:
        """``binding:vif_details.vlan``: Neutron writes it as a string ("120") or a number."""
        details = f.mapping("binding:vif_details")
        if not details or details.get("vlan") in (None, ""):
            return None
        value = details["vlan"]
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.isdigit():
            return int(value)
        f.error("binding:vif_details.vlan", f"must be a VLAN id, not {value!r}")
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
        pending: list[tuple[Draft, dict[str, Any]]] = []
        for d in self.drafts["floatingips"]:
            f = d.f
            port_id = self.ref(f, "ports", "port_id")
            network_id = self.ref(f, "networks", "floating_network_id")
            address = _canonical(f.text("floating_ip_address"))
            if not d.id:
                d.id = (
                    by_address.get(address or "")
                    or (by_port.get(port_id) if port_id and not address else None)
                    or str(uuid.uuid4())
                )
                if d.id not in self.current.floatingips:
                    self.generated[("floatingips", d.id)] = d.raw
                if (("floatingips", d.id)) in self.where:
                    self.report(d.raw, "floating_ip_address", "the same floating IP twice")
                    continue
                self.where[("floatingips", d.id)] = d.raw
            retained.pop(d.id, None)
            old = self.current.floatingips.get(d.id)
            fixed = f.text("fixed_ip_address")
            port = self.new.ports.get(port_id or "")
            if fixed is None and port is not None:
                v4 = [ip.ip_address for ip in port.fixed_ips if ":" not in ip.ip_address]
                if not v4:
                    f.error("fixed_ip_address", f"port {port.id} has no IPv4 address to map to")
                fixed = v4[0] if v4 else None
            kwargs: dict[str, Any] = dict(
                id=d.id,
                floating_ip_address=address or (old.floating_ip_address if old else None),
                floating_network_id=network_id,
                port_id=port_id,
                fixed_ip_address=fixed,
                project_id=f.text("project_id", "tenant_id"),
            )
            pending.append((d, kwargs))
        # Addresses are allocated once every given or kept one is known, from one
        # allocator per floating network, so two new floating IPs never get the same.
        taken = {f.floating_ip_address for f in retained.values()}
        taken.update(k["floating_ip_address"] for _, k in pending if k["floating_ip_address"])
        allocators: dict[str, Allocator | None] = {}
        built: dict[str, FloatingIP] = {}
        for d, kwargs in pending:
            if not kwargs["floating_ip_address"]:
                network_id = kwargs["floating_network_id"] or ""
                if network_id not in allocators:
                    allocators[network_id] = self.floating_allocator(network_id, taken)
                allocated = self.allocate_floating(d, allocators[network_id])
                kwargs["floating_ip_address"] = allocated or ""
            fip = self.build(d, FloatingIP, **kwargs)
            if fip is not None:
                built[d.id] = fip
        self.new.floatingips = {**retained, **built}

    def floating_allocator(self, network_id: str, taken: set[str]) -> Allocator | None:
        """An allocator over the floating network's IPv4 subnets, with what is in use reserved."""
        subnets = {
            s.id: s
            for s in self.new.subnets.values()
            if s.network_id == network_id and s.ip_version == 4
        }
        if not subnets:
            return None
        allocator = Allocator(subnets)
        for port in self.new.ports.values():
            for ip in port.fixed_ips:
                allocator.reserve(ip.subnet_id, ip.ip_address)
        for address in taken:
            for sid in subnets:
                allocator.reserve(sid, address)
        return allocator

    def allocate_floating(self, d: Draft, allocator: Allocator | None) -> str | None:
        if allocator is None:
            d.f.error("floating_ip_address", "is required when floating_network_id has no subnet")
            return None
        for sid in allocator.subnets:
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
                    f.error(f"ports[{i}]", f"must be a string, not {json_type(value)}")
            if not f.has("ports"):
                f.error("ports", "is required")
            spelled = (("mode", "bond_mode"), ("miimon", "bond_miimon"),
                       ("xmit_hash_policy", "bond_xmit_hash_policy"))  # fmt: skip
            bond = self.build(
                d,
                Bond,
                aliases={k: alt for k, alt in spelled if f.has(alt) and not f.has(k)},
                id=d.id,
                ports=tuple(members),
                name=f.text("name") or "",
                mode=f.text("mode", "bond_mode") or "active-backup",
                miimon=f.integer("miimon", "bond_miimon"),
                xmit_hash_policy=f.text("xmit_hash_policy", "bond_xmit_hash_policy"),
            )
            if bond is not None:
                self.new.bonds[d.id] = bond


def _canonical(address: str | None) -> str | None:
    """An address as the store keeps it (one spelling per address); as given if invalid,
    for the model to refuse with the value the file wrote."""
    try:
        return str(parse_ip(address)) if address else address
    except ValueError:
        return address
