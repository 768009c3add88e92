"""Reading guests' IPs through a libvirt connection, one small call per domain.

``virDomainGetMetadata`` returns just our element, so a scan moves a few hundred bytes
per domain instead of the whole ``XMLDesc`` (kilobytes, formatted by the daemon). The
domains' states come from four list calls rather than one ``virDomainGetState`` each.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import libvirt

from guestmeta.domainxml import NAMESPACES, MetadataError, parse_xml, read_brief
from guestmeta.inventory.checks import checked_addresses
from guestmeta.inventory.rows import Domain, Failure, Scan
from guestmeta.libvirt import domain as libvirt_domain
from guestmeta.libvirt.connection import is_no_domain, quiet_errors

# Listing flag -> the state name virsh prints.
_STATE_LISTS = (
    (libvirt.VIR_CONNECT_LIST_DOMAINS_RUNNING, "running"),
    (libvirt.VIR_CONNECT_LIST_DOMAINS_PAUSED, "paused"),
    (libvirt.VIR_CONNECT_LIST_DOMAINS_SHUTOFF, "shutoff"),
    (libvirt.VIR_CONNECT_LIST_DOMAINS_OTHER, "other"),
)
WORKERS = 4  # libvirtd's default max_client_requests is 5


def domain_states(conn: Any) -> list[tuple[Any, str]]:
    """Every domain with its state name, in name order."""
    found: list[tuple[Any, str]] = []
    for flag, state in _STATE_LISTS:
        found.extend((dom, state) for dom in conn.listAllDomains(flag))
    return sorted(found, key=lambda item: str(item[0].name()))


def read_domain(dom: Any, state: str | None) -> Domain:
    """One domain's element (1.1, else 1.0) as it is now: live if running, else saved."""
    meta = None
    for namespace in NAMESPACES:
        xml = libvirt_domain.read(dom, 0, namespace)
        if xml is not None:
            root = parse_xml(xml)
            meta = read_brief(root, namespace)
            break
    return Domain(dom.name(), dom.UUIDString(), state, meta)


def read_one(item: tuple[Any, str]) -> Domain | Failure | None:
    """One (domain, state) of ``domain_states`` read, a Failure, or None when it is gone."""
    dom, state = item
    try:
        return read_domain(dom, state)
    except MetadataError as exc:
        return Failure(dom.name(), str(exc))
    except libvirt.libvirtError as exc:
        if is_no_domain(exc):
            return None  # undefined while we were listing: it has no addresses any more
        return Failure(dom.name(), exc.get_error_message() or str(exc))


def _read_all(items: list[tuple[Any, str]], workers: int) -> list[Domain | Failure | None]:
    """``read_one`` of each item, in their order, from ``workers`` threads.

    Each thread takes the next item from one shared iterator until none is left, rather
    than one future per domain: a future and its hand-over cost as much Python time as
    reading the element, and the threads are there to overlap round trips, not that.
    """
    results: list[Domain | Failure | None] = [None] * len(items)
    pending = iter(enumerate(items))  # next() holds the GIL: each item goes to one thread

    def work() -> None:
        for index, item in pending:
            results[index] = read_one(item)

    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(work) for _ in range(workers)]:
            future.result()
    return results


def scan_connection(conn: Any, workers: int = WORKERS) -> Scan:
    """Every domain of a connection; a domain that fails is reported, never fatal.

    The calls go out from a few threads at once: each waits on a round trip to the
    daemon, which serves up to five requests of one client in parallel.
    """
    items = domain_states(conn)
    if workers > 1 and len(items) > 1:
        results = _read_all(items, min(workers, len(items)))
    else:
        results = [read_one(item) for item in items]
    failures = [r for r in results if isinstance(r, Failure)]
    domains = []
    for result in results:
        if isinstance(result, Domain):
            domain, bad = checked_addresses(result, result.name)
            domains.append(domain)
            failures.extend(bad)
    return Scan(domains, failures)


def scan_uri(uri: str | None) -> Scan:
    """Open a read-only connection (``None``: libvirt's default URI) and scan it."""
    quiet_errors()
    conn = libvirt.openReadOnly(uri)
    try:
        return scan_connection(conn)
    finally:
        conn.close()
