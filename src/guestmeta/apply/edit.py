"""Single edits by command (delete, port attach/detach), checked like an apply."""

from __future__ import annotations

from dataclasses import replace

from guestmeta.apply.errors import ApplyError
from guestmeta.model import KINDS, Plan, Port, Topology, noun
from guestmeta.model.errors import shown
from guestmeta.model.kinds import kind_of


def kind_name(kind: str) -> str:
    """``network`` or ``networks`` -> ``networks``; raises ApplyError for anything else."""
    found = kind_of(kind)
    if found is None or found not in KINDS:
        raise ApplyError([f"unknown kind {shown(kind)} (expected one of {', '.join(KINDS)})"])
    return found


def find(topology: Topology, kind: str, ref: str) -> str:
    """The id of the item ``ref`` names: its id, its name, or (servers) its domain name."""
    items = topology.collection(kind)
    if ref in items:
        return ref
    matches = [
        ident
        for ident, item in items.items()
        if ref in (getattr(item, "name", None), getattr(item, "domain_name", None))
        or (kind == "floatingips" and getattr(item, "floating_ip_address", None) == ref)
    ]
    if len(matches) == 1:
        return matches[0]
    singular = noun(kind)
    if matches:
        raise ApplyError(
            [f"{singular} {shown(ref)} is ambiguous: {len(matches)} match; use the id"]
        )
    raise ApplyError([f"no {singular} {shown(ref)}"])


def _checked(current: Topology, new: Topology, doing: str, gone: str = "") -> Plan:
    lines = []
    for p in new.problems():
        if gone and p.message.endswith(f" {shown(gone)}"):  # "unknown network 'ID'"
            lines.append(f"cannot {doing}: {noun(p.kind)} {p.key} still uses it ({p.field})")
        else:
            lines.append(f"cannot {doing}: {p}")
    if lines:
        raise ApplyError(lines)
    return Plan.between(current, new)


def plan_delete(current: Topology, kind: str, ref: str) -> Plan:
    kind = kind_name(kind)
    ident = find(current, kind, ref)
    new = current.copy()
    del new.collection(kind)[ident]
    return _checked(current, new, f"delete {noun(kind)} {ident}", gone=ident)


def plan_attach(current: Topology, port_ref: str, server_ref: str) -> Plan:
    port_id = find(current, "ports", port_ref)
    server_id = find(current, "servers", server_ref)
    port: Port = current.ports[port_id]
    sub = current.index.parent_of.get(port_id)
    if sub is not None:
        raise ApplyError(
            [f"port {port_id} is a trunk sub-port of port {sub.parent.id}: attach that one"]
        )
    if port.device_id == server_id:
        return Plan(current, [])
    if port.device_id in current.servers:
        raise ApplyError([f"port {port_id} is already attached to server {port.device_id}"])
    new = current.copy()
    owner = port.device_owner if port.device_owner.startswith("compute:") else "compute:nova"
    new.ports[port_id] = replace(
        port, device_id=server_id, device_owner=owner, seq=current.last_seq() + 1
    )
    return _checked(current, new, f"attach port {port_id}")


def plan_detach(current: Topology, port_ref: str) -> Plan:
    port_id = find(current, "ports", port_ref)
    port = current.ports[port_id]
    sub = current.index.parent_of.get(port_id)
    if sub is not None:
        raise ApplyError(
            [f"port {port_id} is a trunk sub-port of port {sub.parent.id}: detach that one"]
        )
    if port.device_id not in current.servers:
        raise ApplyError([f"port {port_id} is not attached to a server"])
    new = current.copy()
    new.ports[port_id] = replace(port, device_id="", device_owner="")
    return _checked(current, new, f"detach port {port_id}")
