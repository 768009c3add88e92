"""Interfaces plugged by someone else (``virsh attach-interface``) whose MAC is a port's.

The store is the source of truth, but an operator who plugs a port's MAC by hand
means that port: when the port is free, the agent attaches it to the domain's server
in the store, and the metadata follows. A port attached elsewhere, a trunk sub-port
(it reaches the guest through its parent, never as a NIC of its own) and a MAC that
several free ports share are left alone and reported, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from guestmeta.model import Topology


@dataclass
class Adoption:
    """What to do with a domain's unknown MACs: ports to attach, and why others are not."""

    attach: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MacIndex:
    """Ports by MAC and the set of trunk sub-ports: built once per pass, not per domain."""

    by_mac: dict[str, list[str]]
    sub_ports: frozenset[str]

    @classmethod
    def of(cls, topology: Topology) -> MacIndex:
        by_mac: dict[str, list[str]] = {}
        for port in topology.ports.values():
            by_mac.setdefault(port.mac_address.lower(), []).append(port.id)
        return cls(by_mac, frozenset(topology.trunk_parents()))


def plan(
    topology: Topology, server_id: str, macs: Iterable[str], index: MacIndex | None = None
) -> Adoption:
    """Which free ports the interfaces with ``macs`` on ``server_id``'s domain stand for."""
    index = index or MacIndex.of(topology)
    by_mac, sub_ports = index.by_mac, index.sub_ports
    result = Adoption()
    for mac in dict.fromkeys(m.lower() for m in macs):
        port_ids = by_mac.get(mac, [])
        if any(topology.ports[p].device_id == server_id for p in port_ids):
            continue  # already this server's
        free = [p for p in port_ids if not topology.ports[p].device_id and p not in sub_ports]
        if len(free) == 1:
            result.attach.append(free[0])
        elif len(free) > 1:
            result.refused.append(f"MAC {mac} matches {len(free)} free ports; attach one by hand")
        for port_id in port_ids:
            port = topology.ports[port_id]
            if port.device_id and port.device_id != server_id:
                result.refused.append(
                    f"MAC {mac} is port {port_id}, attached to server {port.device_id}"
                )
            elif port_id in sub_ports:
                result.refused.append(f"MAC {mac} is trunk sub-port {port_id}")
    return result
