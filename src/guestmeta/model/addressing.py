"""MAC and IP address rules shared by the model and the allocator.

Neutron's conventions are followed so that hand-written files end up with what a
real cloud would have given them: generated MACs carry Nova's ``fa:16:3e`` prefix,
SLAAC addresses are EUI-64 of the MAC, and a fixed address is never a subnet's
network, broadcast or gateway address.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import secrets
from collections.abc import Iterator

from guestmeta.model.errors import shown

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAC_PREFIX = "fa:16:3e"
_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def parse_mac(value: str) -> str:
    """Return the canonical (lowercase, colon) form of a unicast MAC, or raise ValueError."""
    mac = value.strip().lower().replace("-", ":")
    if not _MAC_RE.match(mac):
        raise ValueError(f"{shown(value)} is not a MAC address (expected six hex pairs)")
    if int(mac[:2], 16) & 1:
        raise ValueError(f"{shown(value)} is a multicast MAC address")
    if mac == "00:00:00:00:00:00":
        raise ValueError(f"{shown(value)} is the all-zero MAC address")
    return mac


def random_mac(taken: set[str]) -> str:
    """A new ``fa:16:3e`` MAC not in ``taken`` (which is updated)."""
    while True:
        tail = secrets.token_bytes(3)
        mac = MAC_PREFIX + "".join(f":{b:02x}" for b in tail)
        if mac not in taken:
            taken.add(mac)
            return mac


@functools.lru_cache(maxsize=1 << 17)
def parse_ip(value: str) -> IPAddress:
    """An address; an IPv6 zone id (``%eth1``) is refused: it names a host's link, not an
    address, and would make one address look like two to every comparison.

    Remembered (the objects are immutable): every plan checks every port's addresses of
    the whole store again, and parsing them was half the time of a one-server change on
    a store of 20,000 servers."""
    if "%" not in value and len(value) <= 64:
        try:
            return ipaddress.ip_address(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{shown(value)} is not an IP address")


def parse_cidr(value: str) -> IPNetwork:
    """A network in CIDR form; host bits set are an error, not silently cleared."""
    if "%" not in value and len(value) <= 64:
        try:
            return ipaddress.ip_network(value.strip(), strict=True)
        except ValueError as exc:
            if "host bits set" in str(exc):
                raise ValueError(f"{shown(value)} has host bits set") from None
    raise ValueError(f"{shown(value)} is not a CIDR")


def is_reserved_v4(address: IPAddress, network: IPNetwork) -> str | None:
    """Why ``address`` may not be given to a port on ``network`` (IPv4 network/broadcast)."""
    if network.version == 4 and network.prefixlen < 31:
        if address == network.network_address:
            return "is the subnet's network address"
        if address == network.broadcast_address:
            return "is the subnet's broadcast address"
    return None


def eui64(network: IPNetwork, mac: str) -> ipaddress.IPv6Address:
    """The SLAAC address a guest with ``mac`` forms in a /64 (RFC 4291 appendix A)."""
    octets = bytearray(int(part, 16) for part in mac.split(":"))
    octets[0] ^= 0x02
    iid = bytes(octets[:3]) + b"\xff\xfe" + bytes(octets[3:])
    return ipaddress.IPv6Address(int(network.network_address) | int.from_bytes(iid, "big"))


def default_pool(
    network: IPNetwork, gateway: IPAddress | None
) -> list[tuple[IPAddress, IPAddress]]:
    """Neutron's default allocation pools: the usable range minus the gateway."""
    first = network.network_address + 1
    last = network.broadcast_address - (1 if network.version == 4 else 0)
    if network.prefixlen >= network.max_prefixlen - 1:
        first, last = network.network_address, network.broadcast_address
    pools: list[tuple[IPAddress, IPAddress]] = []
    if gateway is not None and int(first) <= int(gateway) <= int(last):
        if int(first) < int(gateway):
            pools.append((first, gateway - 1))
        if int(gateway) < int(last):
            pools.append((gateway + 1, last))
    else:
        pools.append((first, last))
    return pools


def pool_addresses(pools: list[tuple[IPAddress, IPAddress]]) -> Iterator[IPAddress]:
    for start, end in pools:
        current = int(start)
        stop = int(end)
        cls = type(start)
        while current <= stop:
            yield cls(current)
            current += 1
