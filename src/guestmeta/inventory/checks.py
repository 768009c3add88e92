"""What the inventory will not list as read: addresses that are not addresses, and domains
that contradict each other.

Domain XML comes from whoever could write a file or call ``virsh define``; the inventory
feeds firewalls and monitoring, so it must not pass on ``999.1.1.1``, ``10.0.0.4/24`` or two
addresses joined by a newline as an address, nor let one file hide another silently.
Every entry left out is reported (``guestmeta ips`` prints it; ``--strict`` fails on it).
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from guestmeta.domainxml import IP, PortIPs
from guestmeta.inventory.rows import Domain, Failure
from guestmeta.model.errors import plain, shown


def address_problem(ip: IP) -> str | None:
    """Why ``ip`` is not listed, or None: the address must be one address, no zone, no prefix."""
    address = ip.address
    try:
        if "%" in address or len(address) > 45:
            raise ValueError
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return f"{shown(address)} is not an IP address"
    if ip.ip_version != parsed.version:
        return f"{address} is not IPv{ip.ip_version}, as its ipVersion says"
    if ip.type not in ("fixed", "floating"):
        return f"{address} has type {shown(ip.type)}, not fixed or floating"
    return None


def checked_addresses(domain: Domain, source: str) -> tuple[Domain, list[Failure]]:
    """``domain`` without the addresses it may not list, and one Failure for each."""
    meta = domain.metadata
    if meta is None:
        return domain, []
    failures: list[Failure] = []
    ports: list[PortIPs] = []
    for port in meta.ports:
        ips = []
        for ip in port.ips:
            problem = address_problem(ip)
            if problem is None:
                ips.append(ip)
            else:
                failures.append(
                    Failure(source, f"port {plain(port.uuid)}: {problem}; address skipped")
                )
        ports.append(port if len(ips) == len(port.ips) else PortIPs(port.uuid, tuple(ips)))
    if not failures:
        return domain, []
    return replace(domain, metadata=replace(meta, ports=tuple(ports))), failures


def duplicates(found: list[tuple[str, Domain]]) -> list[Failure]:
    """A Failure for each domain (by source) whose uuid or name an earlier one already has.

    Both stay listed: which one is genuine is not for the inventory to guess, and leaving
    either out would let a file hide a domain.
    """
    failures: list[Failure] = []
    by_uuid: dict[str, str] = {}
    by_name: dict[str, str] = {}
    for source, domain in found:
        first = by_uuid.setdefault(domain.uuid, source)
        if first != source:
            failures.append(Failure(source, f"uuid {domain.uuid} is also in {first}"))
        first = by_name.setdefault(domain.name, source)
        if first != source:
            failures.append(Failure(source, f"domain name {plain(domain.name)} is also in {first}"))
    return failures
