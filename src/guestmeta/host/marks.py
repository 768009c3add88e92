"""The agent's mark on the domains it manages, and the domains it no longer should.

A domain stops being a server of this host when its server is deleted or moves. Seen
while the agent runs, the store tells; seen at start-up, only the domain can: the agent
marks every domain it writes (``domainxml.marker``), so a marked domain that is not one
of this host's servers any more is ours to clean, and an unmarked element (Nova's, a
script's) is not. Cleaning removes our element and the mark; other applications'
metadata and the domain's devices stay.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import Any

import libvirt

from guestmeta.libvirt.connection import is_no_domain, reason
from guestmeta.libvirt.domain import affected, read, read_mark, remove, remove_mark, write_mark

log = logging.getLogger("guestmeta.agent")


def mark(dom: Any, host: str, flags: int) -> None:
    """Mark the definitions ``flags`` names as managed by ``host``'s agent."""
    try:
        write_mark(dom, host, flags)
    except libvirt.libvirtError as exc:
        if not is_no_domain(exc):
            log.warning("%s: cannot mark it as managed: %s", dom.name(), reason(exc))


def ensure(dom: Any, host: str) -> None:
    """Mark a managed domain whose definitions lack the mark (its element written by
    ``port attach``, or by an agent from before marks)."""
    try:
        flags = 0
        for flag in affected(dom):
            if read_mark(dom, flag) != host:
                flags |= flag
    except libvirt.libvirtError:
        return  # what is wrong shows in the calls that follow
    if flags:
        mark(dom, host, flags)


def orphans(conn: Any, host: str, managed: Collection[str]) -> set[str]:
    """Names of the domains marked by ``host``'s agent that ``managed`` does not name.

    Raises libvirtError when the domains cannot be listed.
    """
    found: set[str] = set()
    for dom in conn.listAllDomains(0):
        try:
            name = dom.name()
            if name not in managed and read_mark(dom) == host:
                found.add(name)
        except libvirt.libvirtError as exc:
            if not is_no_domain(exc):
                log.debug("cannot read a domain's mark: %s", reason(exc))
    return found


def clear(
    dom: Any,
    host: str,
    before_write: Callable[[str], None],
    write_failed: Callable[[str], None],
) -> bool:
    """Remove our element and the mark from a domain that is no longer a server of
    ``host``; False when libvirt refused (the agent tries again)."""
    name = dom.name()
    try:
        elements = marks = 0
        for flag in affected(dom):
            if read(dom, flag) is not None:
                elements |= flag
            if read_mark(dom, flag) is not None:
                marks |= flag
        if elements:
            before_write(name)  # our own write: its event is not someone else's change
            try:
                remove(dom, elements)
            except libvirt.libvirtError:
                write_failed(name)
                raise
            log.info("%s: no longer a server of host %s; removed its element", name, host)
        if marks:
            remove_mark(dom, marks)
    except libvirt.libvirtError as exc:
        if is_no_domain(exc):
            return True
        log.error("%s: cannot remove its element: %s", name, reason(exc))
        return False
    return True
