"""``devices`` of meta_data.json: the NICs a guest can tell apart by tag or VLAN.

Nova lists a NIC only when its interface carries a device tag or an SR-IOV VLAN (its
libvirt driver records no others), always with the bus and the address the hypervisor
gave the device, so that a guest can find which of its NICs the tag names. The store
does not know those addresses: libvirt assigns them when the guest starts. The caller
passes them (:class:`DeviceAddress` by MAC, read from the domain's XML by the agent);
a tagged or VLAN NIC without one is left out, because a guest acting on a wrong or
``none`` address would configure the wrong NIC.

Keys as Nova orders them: ``vlan`` (from 2017-02-22), ``vf_trusted`` (from 2018-08-27;
always false, the store knows no trusted VFs), ``type``, ``mac``, ``bus``, ``address``,
``tags`` (only for a tagged NIC). An untagged VLAN NIC first shows in 2017-02-22, where
its ``vlan`` does. Disks and shares are not in the store and not listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from guestmeta.documents import versions
from guestmeta.model import Topology


@dataclass(frozen=True, slots=True)
class DeviceAddress:
    """Where the hypervisor put a NIC: ``bus`` (``pci``) and its address there
    (``0000:00:03.0``), as Nova's metadata shows them."""

    bus: str
    address: str


Devices = Mapping[str, DeviceAddress]  # by MAC address, lowercase


def devices(
    topology: Topology, server_id: str, version: str, addresses: Devices | None
) -> list[dict[str, Any]]:
    """The ``devices`` list of ``version`` for the server's tagged and VLAN NICs."""
    out: list[dict[str, Any]] = []
    for port in topology.index.ports(server_id):
        where = (addresses or {}).get(port.mac_address)
        if where is None or not (port.tag or port.vlan):
            continue
        device: dict[str, Any] = {}
        if port.vlan and versions.has(version, versions.DEVICE_VLAN):
            device["vlan"] = port.vlan
        if versions.has(version, versions.DEVICE_VF_TRUSTED):
            device["vf_trusted"] = False
        if not (port.tag or device):
            continue  # an untagged VLAN NIC shows only where its VLAN does (Nova's rule)
        device.update(type="nic", mac=port.mac_address, bus=where.bus, address=where.address)
        if port.tag:
            device["tags"] = [port.tag]
        out.append(device)
    return out
