"""The agent's mark on a domain it manages: ``<guestmeta:managed host="..."/>``.

The ``nova:instance`` element says nothing about who wrote it: Nova, a script, or our
agent (docs/formats.md §1.6). A domain whose server is deleted while no agent runs would
keep our element forever, because a starting agent could not tell it from a domain it
never managed. So the agent marks each domain it writes, in a namespace of its own (other readers of
``<metadata>`` skip it), naming its host; a later agent of that host removes the element
and the mark from a domain that is no longer one of its servers.
"""

from __future__ import annotations

from lxml import etree

from guestmeta.domainxml.safe import MetadataError, parse_xml

MARK_NS = "urn:guestmeta:agent:1"
MARK_PREFIX = "guestmeta"
MARK_KEY = "managed"


def mark_xml(host: str) -> str:
    """The mark as ``virDomainSetMetadata`` wants it: unqualified (libvirt qualifies it)."""
    return etree.tostring(etree.Element(MARK_KEY, host=host), encoding="unicode")


def marked_host(xml: str | None) -> str | None:
    """The host a mark names, or None for no mark (or one we cannot read)."""
    if xml is None:
        return None
    try:
        root = parse_xml(xml)
    except MetadataError:
        return None
    return root.get("host") if etree.QName(root).localname == MARK_KEY else None
