"""A port as a libvirt ``<interface>``, and finding a domain's interfaces by MAC.

Where a port's traffic goes on the host is the operator's choice, not the store's: one
template (``--vif-source``) names it for every port plugged here. The kinds are the
ones libvirt offers for a NIC: a Linux bridge, a libvirt network, an Open vSwitch
bridge (with the port id as ``iface-id``, as Neutron's OVS agent expects), or QEMU's
user networking (no host device at all; for tests and laptops).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxml import etree

from guestmeta.domainxml import parse_xml
from guestmeta.model import Port, tap_name
from guestmeta.model.topology import is_uuid

KINDS = ("user", "bridge", "network", "ovs")
ENV_VIF_SOURCE = "GUESTMETA_VIF_SOURCE"
DEFAULT_VIF_SOURCE = "network:default"


class VifSourceError(ValueError):
    """A ``--vif-source`` value we cannot use; the message names it."""


@dataclass(frozen=True, slots=True)
class VifSource:
    kind: str  # one of KINDS
    name: str = ""  # bridge or network name; empty for user

    def __str__(self) -> str:
        return self.kind if self.kind == "user" else f"{self.kind}:{self.name}"


def parse_vif_source(text: str) -> VifSource:
    """``user``, ``bridge:NAME``, ``network:NAME`` or ``ovs:NAME``."""
    kind, _, name = text.strip().partition(":")
    if kind not in KINDS:
        raise VifSourceError(
            f"bad vif source {text!r}: expected user, bridge:NAME, network:NAME or ovs:NAME"
        )
    if kind == "user" and name:
        raise VifSourceError(f"bad vif source {text!r}: user takes no name")
    if kind != "user" and not name:
        raise VifSourceError(f"bad vif source {text!r}: {kind} needs a name ({kind}:NAME)")
    if any(c.isspace() or c in "<>&'\"/" for c in name):
        raise VifSourceError(f"bad vif source {text!r}: {name!r} is not a usable name")
    return VifSource(kind, name)


def interface_xml(port: Port, source: VifSource, mtu: int | None = None) -> str:
    """The ``<interface>`` that plugs ``port``: its MAC, a virtio NIC, the source."""
    libvirt_type = {"user": "user", "bridge": "bridge", "network": "network", "ovs": "bridge"}
    iface = etree.Element("interface", type=libvirt_type[source.kind])
    etree.SubElement(iface, "mac", address=port.mac_address)
    if source.kind in ("bridge", "ovs"):
        etree.SubElement(iface, "source", bridge=source.name)
    elif source.kind == "network":
        etree.SubElement(iface, "source", network=source.name)
    if source.kind == "ovs":
        virtualport = etree.SubElement(iface, "virtualport", type="openvswitch")
        etree.SubElement(virtualport, "parameters", interfaceid=port.id)
    if source.kind != "user":
        if is_uuid(port.id):
            # Nova's tap name. Other ids (free-form in hand-written files) could cut to
            # the same 14 characters or hold characters Linux refuses: libvirt names those.
            etree.SubElement(iface, "target", dev=tap_name(port.id))
        if mtu:
            etree.SubElement(iface, "mtu", size=str(mtu))
    etree.SubElement(iface, "model", type="virtio")
    return etree.tostring(iface, encoding="unicode")


@dataclass(frozen=True, slots=True)
class Interface:
    mac: str  # lower case
    alias: str | None  # e.g. net1; only running domains have one
    xml: str
    bus: tuple[str, str] | None = None  # ("pci", "0000:00:03.0"): where libvirt put it


def _pci(iface: Any) -> tuple[str, str] | None:
    """The interface's PCI address as Nova's device metadata writes it, or None."""
    address = iface.find("address")
    if address is None or address.get("type") != "pci":
        return None
    try:
        parts = [int(address.get(key, ""), 16) for key in ("domain", "bus", "slot", "function")]
    except ValueError:
        return None
    domain, bus, slot, function = parts
    return "pci", f"{domain:04x}:{bus:02x}:{slot:02x}.{function:x}"


def interfaces(domain_xml: str) -> list[Interface]:
    """Every ``<interface>`` of a domain XML (live or saved), in device order."""
    root = parse_xml(domain_xml)
    found = []
    for iface in root.iterfind("devices/interface"):
        mac = iface.find("mac")
        if mac is None or not mac.get("address"):
            continue
        alias = iface.find("alias")
        found.append(
            Interface(
                mac=mac.get("address", "").lower(),
                alias=alias.get("name") if alias is not None else None,
                xml=etree.tostring(iface, encoding="unicode"),
                bus=_pci(iface),
            )
        )
    return found


def find(dom: Any, mac: str, flags: int = 0) -> Interface | None:
    """The domain's interface with ``mac`` (flags: 0 live/current, or INACTIVE for saved)."""
    mac = mac.lower()
    for iface in interfaces(dom.XMLDesc(flags)):
        if iface.mac == mac:
            return iface
    return None
