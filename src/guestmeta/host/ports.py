"""``port attach`` and ``port detach``: the store and the domain, kept in agreement.

Attach: the store first (it checks the request), then the NIC is plugged where the
domain lacks it, then the metadata is written. If libvirt refuses the NIC the store
change is rolled back, so the port is never recorded as plugged into a domain that
does not have it.

Detach: the NIC leaves the domain first (live, waiting for the guest, then saved),
then the store, then the metadata. If the guest does not release the NIC in time,
neither the store nor the saved definition is touched: store, live and saved
definitions all still say the port is plugged, and running the detach again finishes
the job once the guest answers.

A domain that is not defined on the connection (the server lives on another host, or
has not been created yet) gets the store change only; the agent of its host writes the
metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import libvirt

from guestmeta.apply import ApplyError
from guestmeta.apply.edit import find, plan_attach, plan_detach
from guestmeta.domainxml import desired
from guestmeta.libvirt import hotplug
from guestmeta.libvirt.connection import lookup, reason
from guestmeta.libvirt.interfaces import VifSource, interface_xml
from guestmeta.libvirt.reconcile import Outcome, sync_safely
from guestmeta.model import Plan, Port, Topology

if TYPE_CHECKING:  # the store (SQLAlchemy) loads only when a command opens it
    from guestmeta.store import Result, Store


@dataclass
class PortChange:
    """What a port command did to the store and to the domain."""

    result: Result
    domain: str | None = None  # the domain touched, if it was found
    device: tuple[str, ...] = ()  # where the NIC was (un)plugged: live, config
    metadata: Outcome | None = None
    note: str | None = None  # why the domain was not touched

    def lines(self) -> list[str]:
        """What happened in libvirt, for people (the note goes to stderr on its own)."""
        out = []
        if self.domain is not None and self.device:
            out.append(f"interface on {self.domain}: {'+'.join(self.device)}")
        if self.metadata is not None:
            out.append(f"metadata of {self.metadata.describe()}")
        return out

    def as_dict(self) -> dict[str, Any]:
        meta = self.metadata
        return {
            "name": self.domain,
            "device": list(self.device),
            "metadata": list(meta.written) if meta is not None else [],
            "error": meta.error if meta is not None else None,
        }


def _domain(conn: Any, domain_name: str) -> tuple[Any, str | None]:
    if conn is None:
        return None, "libvirt not reached: store only"
    dom = lookup(conn, domain_name)
    if dom is None:
        return None, f"domain {domain_name} is not defined here: store only"
    return dom, None


def attach_port(
    store: Store, conn: Any, port_ref: str, server_ref: str, source: VifSource
) -> PortChange:
    """Attach in the store, plug the NIC, write the metadata (see the module docstring).

    Raises ApplyError when the store refuses and HotplugError when libvirt does.
    """
    topology = store.load()
    port_id = find(topology, "ports", port_ref)
    server_id = find(topology, "servers", server_ref)
    original = topology.ports[port_id]
    result = store.change(lambda current: plan_attach(current, port_id, server_id))
    server = result.topology.servers[server_id]
    port = result.topology.ports[port_id]
    try:
        dom, note = _domain(conn, server.domain_name)
        if dom is None:
            return PortChange(result, note=note)
        network = result.topology.networks.get(port.network_id)
        xml = interface_xml(port, source, network.mtu if network else None)
        device = hotplug.attach(dom, xml, port.mac_address)
    except (hotplug.HotplugError, libvirt.libvirtError) as exc:
        if not result.changes:
            raise
        # Put the port back exactly as it was (owner, order), not merely "detached".
        store.change(lambda current: _restore(current, original))
        why = exc if isinstance(exc, hotplug.HotplugError) else reason(exc)
        raise hotplug.HotplugError(f"{why}; the store change was rolled back") from exc
    meta = sync_safely(dom, desired(result.topology, server_id))
    return PortChange(result, server.domain_name, device, meta)


def _restore(current: Topology, port: Port) -> Plan:
    topology = current.copy()
    topology.ports[port.id] = port
    return Plan.between(current, topology)


def detach_port(store: Store, conn: Any, port_ref: str, timeout: float) -> PortChange:
    """Unplug the NIC (waiting up to ``timeout`` s for the guest), then the store, then XML.

    Raises ApplyError when the store refuses (the port is not attached), DetachTimeout
    when the guest did not answer in time and HotplugError when libvirt refused; in
    each case the store is unchanged.
    """
    topology = store.load()
    port_id = find(topology, "ports", port_ref)
    plan_detach(topology, port_id)  # refuses a port that is not attached, before unplugging
    port = topology.ports[port_id]
    server = topology.servers[port.device_id]
    dom, note = _domain(conn, server.domain_name)
    device: tuple[str, ...] = ()
    if dom is not None:
        try:
            device = hotplug.detach(conn, dom, port.mac_address, timeout)
        except libvirt.libvirtError as exc:  # e.g. the domain went away meanwhile
            raise hotplug.HotplugError(f"{reason(exc)}; the store is unchanged") from exc
    try:
        result = store.change(lambda current: plan_detach(current, port_id))
    except ApplyError as exc:
        raise ApplyError([*exc.lines, "the interface was unplugged already"]) from exc
    if dom is None:
        return PortChange(result, note=note)
    meta = sync_safely(dom, desired(result.topology, server.id))
    return PortChange(result, server.domain_name, device, meta)
