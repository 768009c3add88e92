"""Networks and subnets: the L2 segments and address ranges that ports live on."""

from __future__ import annotations

from dataclasses import dataclass

from guestmeta.model._checks import Checker
from guestmeta.model.addressing import (
    IPAddress,
    IPNetwork,
    default_pool,
    is_reserved_v4,
    parse_cidr,
    parse_ip,
)
from guestmeta.model.errors import shown

NETWORK_TYPES = ("flat", "vlan", "vxlan", "gre", "geneve", "local")
IPV6_MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")
MTU_MIN, MTU_MIN_V6, MTU_MAX = 68, 1280, 65535


@dataclass(frozen=True, slots=True)
class Network:
    id: str
    name: str = ""
    mtu: int | None = None
    network_type: str | None = None
    physical_network: str | None = None
    segmentation_id: int | None = None
    external: bool = False
    shared: bool = False
    project_id: str | None = None

    def __post_init__(self) -> None:
        c = Checker()
        c.text("id", self.id)
        c.text("name", self.name)
        c.text("provider:physical_network", self.physical_network)
        c.text("project_id", self.project_id)
        if self.mtu is not None:
            c.check("mtu", MTU_MIN <= self.mtu <= MTU_MAX, f"{self.mtu} is outside 68-65535")
        if self.network_type is not None:
            c.check(
                "provider:network_type",
                self.network_type in NETWORK_TYPES,
                f"{shown(self.network_type)} is not one of {', '.join(NETWORK_TYPES)}",
            )
        if self.network_type == "vlan" and self.segmentation_id is not None:
            c.check(
                "provider:segmentation_id",
                1 <= self.segmentation_id <= 4094,
                f"VLAN id {self.segmentation_id} is outside 1-4094",
            )
        c.done()


@dataclass(frozen=True, slots=True)
class HostRoute:
    destination: str
    nexthop: str


@dataclass(frozen=True, slots=True)
class AllocationPool:
    start: str
    end: str


@dataclass(frozen=True, slots=True)
class Subnet:
    id: str
    network_id: str
    cidr: str
    ip_version: int
    name: str = ""
    gateway_ip: str | None = None
    enable_dhcp: bool = True
    ipv6_address_mode: str | None = None
    ipv6_ra_mode: str | None = None
    dns_nameservers: tuple[str, ...] = ()
    host_routes: tuple[HostRoute, ...] = ()
    allocation_pools: tuple[AllocationPool, ...] = ()
    project_id: str | None = None

    def __post_init__(self) -> None:
        c = Checker()
        c.text("id", self.id)
        c.text("name", self.name)
        c.text("network_id", self.network_id)
        c.text("project_id", self.project_id)
        net = c.parse("cidr", parse_cidr, self.cidr)
        if net is not None:
            c.check(
                "ip_version",
                net.version == self.ip_version,
                f"{self.ip_version} does not match cidr {self.cidr}",
            )
        if self.gateway_ip is not None:
            gw = c.parse("gateway_ip", parse_ip, self.gateway_ip)
            if gw is not None and net is not None:
                inside = gw.version == net.version and gw in net
                c.check("gateway_ip", inside, f"{self.gateway_ip} is outside {self.cidr}")
                reserved = is_reserved_v4(gw, net) if inside else None
                c.check("gateway_ip", reserved is None, f"{gw} {reserved}")
        for field in ("ipv6_address_mode", "ipv6_ra_mode"):
            mode = getattr(self, field)
            if mode is not None:
                c.check(
                    field,
                    mode in IPV6_MODES,
                    f"{shown(mode)} is not one of {', '.join(IPV6_MODES)}",
                )
                c.check(field, self.ip_version == 6, "is only valid on an IPv6 subnet")
        for i, dns in enumerate(self.dns_nameservers):
            c.parse(f"dns_nameservers[{i}]", parse_ip, dns)
        for i, route in enumerate(self.host_routes):
            dest = c.parse(f"host_routes[{i}].destination", parse_cidr, route.destination)
            hop = c.parse(f"host_routes[{i}].nexthop", parse_ip, route.nexthop)
            if dest is not None and hop is not None:
                c.check(
                    f"host_routes[{i}]",
                    dest.version == hop.version == self.ip_version,
                    "destination and nexthop must be of the subnet's IP version",
                )
        for i, pool in enumerate(self.allocation_pools):
            start = c.parse(f"allocation_pools[{i}].start", parse_ip, pool.start)
            end = c.parse(f"allocation_pools[{i}].end", parse_ip, pool.end)
            if start is not None and end is not None and net is not None:
                c.check(
                    f"allocation_pools[{i}]",
                    start in net and end in net and int(start) <= int(end),
                    f"{pool.start}-{pool.end} is not an ascending range inside {self.cidr}",
                )
        c.done()

    @property
    def network(self) -> IPNetwork:
        return parse_cidr(self.cidr)

    def pools(self) -> list[tuple[IPAddress, IPAddress]]:
        """The allocation pools as address pairs (Neutron's default when none are given)."""
        if self.allocation_pools:
            return [(parse_ip(p.start), parse_ip(p.end)) for p in self.allocation_pools]
        gateway = parse_ip(self.gateway_ip) if self.gateway_ip else None
        return default_pool(self.network, gateway)
