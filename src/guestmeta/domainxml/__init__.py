"""The ``<nova:instance>`` element of libvirt domain XML, as a format.

Types, writer and safe parser for both namespaces (1.1 written, 1.0 read too), and what
a server's element should say. Nothing here imports libvirt or the store, so reading
domain XML files (``guestmeta ips --xml``) needs neither a daemon nor its binding::

    from guestmeta.domainxml import from_xml, to_xml, desired

    meta = from_xml(open("instance.xml").read())
    print([(p.uuid, [ip.address for ip in p.ips]) for p in meta.ports])
"""

from guestmeta.domainxml.brief import domain_parts, read_brief
from guestmeta.domainxml.desired import desired, desired_many, package_version, port_ips
from guestmeta.domainxml.instance import (
    IP,
    KEY,
    NAMESPACES,
    NS,
    NS_1_0,
    PREFIX,
    FlavorInfo,
    InstanceMetadata,
    PortIPs,
    canonical,
    differences,
    from_element,
    from_xml,
    to_element,
    to_xml,
)
from guestmeta.domainxml.marker import MARK_KEY, MARK_NS, MARK_PREFIX, mark_xml, marked_host
from guestmeta.domainxml.safe import PARSER, MetadataError, parse_xml

__all__ = [
    "IP",
    "KEY",
    "MARK_KEY",
    "MARK_NS",
    "MARK_PREFIX",
    "NAMESPACES",
    "NS",
    "NS_1_0",
    "PARSER",
    "PREFIX",
    "FlavorInfo",
    "InstanceMetadata",
    "MetadataError",
    "PortIPs",
    "canonical",
    "desired",
    "desired_many",
    "differences",
    "domain_parts",
    "from_element",
    "from_xml",
    "mark_xml",
    "marked_host",
    "package_version",
    "parse_xml",
    "port_ips",
    "read_brief",
    "to_element",
    "to_xml",
]
