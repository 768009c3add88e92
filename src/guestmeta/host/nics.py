"""A domain's NICs against the store: which to adopt, which to unplug, which to leave.

The store is the source of truth, but it can fall out of step with a domain's devices
in two ways, and the domain's own ``nova:instance`` element tells them apart, because it
lists the ports we last wrote as plugged:

- a NIC whose MAC is a *free* port that the element does not list was plugged by
  someone else (``virsh attach-interface``): the operator means that port, so the agent
  attaches it to the domain's server in the store;
- a NIC whose MAC is a port the element lists, but that the store no longer plugs into
  this server, was detached (or moved) in the store while the domain could not be
  reached: the agent unplugs it, as ``port detach`` would have.

A port attached elsewhere, a trunk sub-port (it reaches the guest through its parent,
never as a NIC of its own) and a MAC that several free ports share are left alone and
reported, never guessed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from guestmeta.model import TopologyIndex


@dataclass
class NicPlan:
    """What to do with a domain's NICs that the store does not account for."""

    attach: list[str] = field(default_factory=list)  # free ports to attach to the server
    unplug: dict[str, list[str]] = field(default_factory=dict)  # MAC -> listed port ids
    refused: list[str] = field(default_factory=list)


def plan(
    index: TopologyIndex, server_id: str, macs: Iterable[str], listed: Collection[str] = ()
) -> NicPlan:
    """What the NICs with ``macs`` on ``server_id``'s domain stand for.

    ``listed``: the port ids of the domain's current ``nova:instance`` element.
    """
    result = NicPlan()
    topology = index.topology
    for mac in dict.fromkeys(m.lower() for m in macs):
        port_ids = index.ports_by_mac(mac)
        if any(index.server_of_port(p) == server_id and not index.is_sub_port(p) for p in port_ids):
            continue  # plugged into this server: as it should be
        gone = [p for p in port_ids if p in listed]
        if gone:
            result.unplug[mac] = gone
            continue
        free = [p for p in port_ids if not topology.ports[p].device_id and not index.is_sub_port(p)]
        if len(free) == 1:
            result.attach.append(free[0])
        elif len(free) > 1:
            result.refused.append(f"MAC {mac} matches {len(free)} free ports; attach one by hand")
        for port_id in port_ids:
            owner = index.server_of_port(port_id)
            if index.is_sub_port(port_id):
                result.refused.append(f"MAC {mac} is trunk sub-port {port_id}")
            elif owner and owner != server_id:
                result.refused.append(f"MAC {mac} is port {port_id}, attached to server {owner}")
    return result
