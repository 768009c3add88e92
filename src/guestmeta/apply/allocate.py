"""Fixed-address allocation for hand-written ports, the way Neutron's IPAM does it.

Lowest free address of the subnet's allocation pools, never the gateway; SLAAC and
DHCPv6-stateless subnets get the EUI-64 address of the port's MAC, as Neutron
computes it. One allocator serves a whole apply so that a file of thousands of
ports allocates in linear time.
"""

from __future__ import annotations

from collections.abc import Iterator

from guestmeta.model import Subnet
from guestmeta.model.addressing import IPAddress, eui64, parse_ip, pool_addresses

SLAAC_MODES = ("slaac", "dhcpv6-stateless")


class Exhausted(ValueError):
    pass


class Allocator:
    def __init__(self, subnets: dict[str, Subnet]) -> None:
        self.subnets = subnets
        self.used: dict[str, set[IPAddress]] = {sid: set() for sid in subnets}
        self._cursors: dict[str, Iterator[IPAddress]] = {}

    def reserve(self, subnet_id: str, address: str) -> None:
        if subnet_id in self.used:
            self.used[subnet_id].add(parse_ip(address))

    def allocate(self, subnet_id: str, mac: str) -> str:
        subnet = self.subnets[subnet_id]
        used = self.used[subnet_id]
        if subnet.ipv6_address_mode in SLAAC_MODES:
            address: IPAddress = eui64(subnet.network, mac)
            used.add(address)
            return str(address)
        cursor = self._cursors.get(subnet_id)
        if cursor is None:
            cursor = self._cursors[subnet_id] = pool_addresses(subnet.pools())
        gateway = parse_ip(subnet.gateway_ip) if subnet.gateway_ip else None
        for address in cursor:
            if address not in used and address != gateway:
                used.add(address)
                return str(address)
        raise Exhausted(f"subnet {subnet.id} ({subnet.cidr}) has no free address left")

    def default_subnets(self, network_id: str) -> list[str]:
        """Where a port that names no fixed IPs gets addresses: the first IPv4 subnet,
        the first stateful IPv6 subnet, and every SLAAC subnet of its network."""
        chosen: list[str] = []
        v4 = v6 = False
        for subnet in self.subnets.values():
            if subnet.network_id != network_id:
                continue
            if subnet.ip_version == 4 and not v4:
                chosen.append(subnet.id)
                v4 = True
            elif subnet.ip_version == 6 and subnet.ipv6_address_mode in SLAAC_MODES:
                chosen.append(subnet.id)
            elif subnet.ip_version == 6 and not v6:
                chosen.append(subnet.id)
                v6 = True
        return chosen
