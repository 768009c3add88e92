"""Ports with their fixed IPs, trunk sub-ports, floating IPs and bonds.

A sub-port is a port of its own (with its own network and fixed IPs) that a trunk
parent carries on a VLAN; the parent records which ports ride on which VLAN, as
Neutron's ``trunk_details`` does. A bond groups two or more ports of one server.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from guestmeta.model._checks import Checker
from guestmeta.model.addressing import parse_ip, parse_mac
from guestmeta.model.errors import shown

VIF_TYPES = (
    "bridge",
    "dvs",
    "hw_veb",
    "hyperv",
    "ovs",
    "tap",
    "vhostuser",
    "vif",
    "other",
    "unbound",
    "binding_failed",
    "distributed",
)
BOND_MODES = (
    "802.3ad",
    "balance-rr",
    "active-backup",
    "balance-xor",
    "broadcast",
    "balance-tlb",
    "balance-alb",
)
BOND_HASH_POLICIES = ("layer2", "layer2+3", "layer3+4", "encap2+3", "encap3+4")
SUBPORT_OWNER = "trunk:subport"  # Neutron's device_owner for a trunk's sub-ports
TAP_NAME_LEN = 14  # Linux's IFNAMSIZ less the NUL and a spare, as Nova cuts them


def tap_name(port_id: str) -> str:
    """The host's tap device of a port, as Nova names it; also its network_data link id."""
    return ("tap" + port_id)[:TAP_NAME_LEN]


@dataclass(frozen=True, slots=True)
class FixedIP:
    subnet_id: str
    ip_address: str


@dataclass(frozen=True, slots=True)
class SubPort:
    """A port carried by a trunk parent on one VLAN."""

    port_id: str
    segmentation_id: int
    segmentation_type: str = "vlan"


@dataclass(frozen=True, slots=True)
class Trunk:
    id: str
    sub_ports: tuple[SubPort, ...] = ()


@dataclass(frozen=True, slots=True)
class Port:
    id: str
    network_id: str
    mac_address: str
    name: str = ""
    fixed_ips: tuple[FixedIP, ...] = ()
    vif_type: str | None = None
    vnic_type: str = "normal"
    host: str | None = None
    device_id: str = ""
    device_owner: str = ""
    project_id: str | None = None
    trunk: Trunk | None = None
    # Nova's device tag of the interface (``tag`` of os-interface and of a server's
    # ``networks``) and the VLAN Neutron binds an SR-IOV port to (``binding:vif_details``
    # ``vlan``): what makes Nova list a NIC under meta_data.json's ``devices``.
    tag: str | None = None
    vlan: int | None = None
    # Order of attachment to its server; not part of the port's identity.
    seq: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        c = Checker()
        for name, value in (
            ("id", self.id),
            ("name", self.name),
            ("network_id", self.network_id),
            ("binding:host_id", self.host),
            ("device_id", self.device_id),
            ("device_owner", self.device_owner),
            ("project_id", self.project_id),
            ("binding:vnic_type", self.vnic_type),
        ):
            c.text(name, value)
        mac = c.parse("mac_address", parse_mac, self.mac_address)
        c.check(
            "mac_address", mac is None or mac == self.mac_address, "must be lowercase colon form"
        )
        if self.vif_type is not None:
            c.check(
                "binding:vif_type",
                self.vif_type in VIF_TYPES,
                f"{shown(self.vif_type)} is not one of {', '.join(VIF_TYPES)}",
            )
        for i, ip in enumerate(self.fixed_ips):
            c.text(f"fixed_ips[{i}].subnet_id", ip.subnet_id)
            c.parse(f"fixed_ips[{i}].ip_address", parse_ip, ip.ip_address)
        if self.vlan is not None:
            c.check(
                "binding:vif_details.vlan",
                1 <= self.vlan <= 4094,
                f"VLAN id {self.vlan} is outside 1-4094",
            )
        if self.trunk is not None:
            c.text("trunk_details.trunk_id", self.trunk.id)
            seen: set[int] = set()
            for i, sub in enumerate(self.trunk.sub_ports):
                where = f"trunk_details.sub_ports[{i}].segmentation_id"
                c.check(
                    where,
                    1 <= sub.segmentation_id <= 4094,
                    f"VLAN id {sub.segmentation_id} is outside 1-4094",
                )
                c.check(
                    where,
                    sub.segmentation_id not in seen,
                    f"VLAN id {sub.segmentation_id} is used twice on this trunk",
                )
                seen.add(sub.segmentation_id)
                c.check(
                    f"trunk_details.sub_ports[{i}].segmentation_type",
                    sub.segmentation_type == "vlan",
                    f"{shown(sub.segmentation_type)} is not supported (only vlan)",
                )
                c.text(f"trunk_details.sub_ports[{i}].port_id", sub.port_id)
                c.check(
                    f"trunk_details.sub_ports[{i}].port_id",
                    sub.port_id != self.id,
                    "a port cannot be a sub-port of itself",
                )
        c.done()


@dataclass(frozen=True, slots=True)
class FloatingIP:
    id: str
    floating_ip_address: str
    floating_network_id: str | None = None
    port_id: str | None = None
    fixed_ip_address: str | None = None
    project_id: str | None = None

    def __post_init__(self) -> None:
        c = Checker()
        c.text("id", self.id)
        c.text("floating_network_id", self.floating_network_id)
        c.text("port_id", self.port_id)
        c.text("project_id", self.project_id)
        c.parse("floating_ip_address", parse_ip, self.floating_ip_address)
        if self.fixed_ip_address is not None:
            c.parse("fixed_ip_address", parse_ip, self.fixed_ip_address)
            c.check("port_id", self.port_id is not None, "is required with fixed_ip_address")
        c.done()


@dataclass(frozen=True, slots=True)
class Bond:
    """Two or more ports of one server bonded in the guest (see docs: bonds)."""

    id: str
    ports: tuple[str, ...]
    name: str = ""
    mode: str = "active-backup"
    miimon: int | None = None
    xmit_hash_policy: str | None = None

    def __post_init__(self) -> None:
        c = Checker()
        c.text("id", self.id)
        c.text("name", self.name)
        for i, port in enumerate(self.ports):
            c.text(f"ports[{i}]", port)
        c.check("ports", len(self.ports) >= 2, "a bond needs two or more ports")
        c.check("ports", len(set(self.ports)) == len(self.ports), "lists a port twice")
        c.check(
            "mode",
            self.mode in BOND_MODES,
            f"{shown(self.mode)} is not one of {', '.join(BOND_MODES)}",
        )
        if self.miimon is not None:
            c.check("miimon", self.miimon >= 0, f"{self.miimon} is negative")
        if self.xmit_hash_policy is not None:
            c.check(
                "xmit_hash_policy",
                self.xmit_hash_policy in BOND_HASH_POLICIES,
                f"{shown(self.xmit_hash_policy)} is not one of {', '.join(BOND_HASH_POLICIES)}",
            )
        c.done()
