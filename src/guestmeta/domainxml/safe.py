"""The one XML parser for domain XML: safe for files and calls anyone could have written.

Domain XML can come from anyone who can write a file or call ``virsh define``: never
expand entities, never fetch anything, and refuse the huge-tree mode.
"""

from __future__ import annotations

from lxml import etree

# Always UTF-8, whatever the document declares: libvirt writes nothing else, and another
# encoding (UTF-16, UTF-7) could spell markup that a byte search for it would miss.
PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    huge_tree=False,
    remove_blank_text=True,
    encoding="utf-8",
)


class MetadataError(ValueError):
    """The XML is not a ``nova:instance`` element (or domain XML) we can read."""


def parse_xml(xml: str | bytes) -> etree._Element:
    """Parse XML safely; raises MetadataError with libxml2's one-line reason."""
    try:
        data = xml.encode() if isinstance(xml, str) else xml
        return etree.fromstring(data, PARSER)
    except etree.XMLSyntaxError as exc:
        raise MetadataError(f"malformed XML: {exc}") from None
