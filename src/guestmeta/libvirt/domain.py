"""Reading and writing our metadata element on one libvirt domain.

``virDomainGetMetadata`` returns just the element of one namespace, which is far cheaper
than the whole ``XMLDesc``; ``virDomainSetMetadata`` replaces just that element, so other
applications' metadata in ``<metadata>`` survives every write.
"""

from __future__ import annotations

from typing import Any

import libvirt

from guestmeta.domainxml import (
    MARK_NS,
    MARK_PREFIX,
    NAMESPACES,
    NS,
    PREFIX,
    InstanceMetadata,
    from_xml,
    mark_xml,
    marked_host,
    to_xml,
)

ELEMENT = libvirt.VIR_DOMAIN_METADATA_ELEMENT
LIVE = libvirt.VIR_DOMAIN_AFFECT_LIVE
CONFIG = libvirt.VIR_DOMAIN_AFFECT_CONFIG


def affected(dom: Any) -> list[int]:
    """The definitions a write must reach: the running one and the saved one.

    Nova passes 0 (current only), so on a running guest the saved definition keeps stale
    ports. A transient domain has no saved definition; a shut-off one has no live one.
    """
    flags = []
    if dom.isActive():
        flags.append(LIVE)
    if dom.isPersistent():
        flags.append(CONFIG)
    return flags


def read(dom: Any, flags: int = 0, namespace: str = NS) -> str | None:
    """Our element as the domain holds it (``flags``: LIVE or CONFIG), or None.

    libvirt returns it without its namespace; ``load`` reads it into values.
    """
    try:
        xml: str = dom.metadata(ELEMENT, namespace, flags)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA:
            return None
        raise
    return xml


def load(dom: Any, flags: int = 0, namespace: str = NS) -> InstanceMetadata | None:
    """Our element read into values, or None; MetadataError when it is malformed."""
    xml = read(dom, flags, namespace)
    return None if xml is None else from_xml(xml, namespace)


def load_any(dom: Any, flags: int = 0) -> InstanceMetadata | None:
    """Our element in the 1.1 namespace, else an old Nova's 1.0 one, else None."""
    for namespace in NAMESPACES:
        meta = load(dom, flags, namespace)
        if meta is not None:
            return meta
    return None


def element_xml(meta: InstanceMetadata) -> str:
    """The XML ``write`` hands to libvirt, and that ``read`` gives back when unchanged."""
    return to_xml(meta, qualified=False)


def write(dom: Any, meta: InstanceMetadata | str, flags: int) -> None:
    """Replace our element (only ours) in the definitions ``flags`` names."""
    xml = element_xml(meta) if isinstance(meta, InstanceMetadata) else meta
    dom.setMetadata(ELEMENT, xml, PREFIX, NS, flags)


def remove(dom: Any, flags: int) -> None:
    """Drop our element, e.g. when the domain no longer belongs to a known server."""
    dom.setMetadata(ELEMENT, None, None, NS, flags)


def read_mark(dom: Any, flags: int = 0) -> str | None:
    """The host named by the agent's mark on the domain (``flags``: LIVE or CONFIG)."""
    return marked_host(read(dom, flags, MARK_NS))


def write_mark(dom: Any, host: str, flags: int) -> None:
    """Mark the domain as managed by the agent of ``host`` (see ``domainxml.marker``)."""
    dom.setMetadata(ELEMENT, mark_xml(host), MARK_PREFIX, MARK_NS, flags)


def remove_mark(dom: Any, flags: int) -> None:
    dom.setMetadata(ELEMENT, None, None, MARK_NS, flags)
