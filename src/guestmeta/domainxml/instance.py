"""The ``<nova:instance>`` element that libvirt keeps in a domain's ``<metadata>``.

Nova writes this element and exporters, ceilometer and operators' scripts read it, so we
write the same shape in the same namespace (``.../nova/1.1``) and read both that and the
older ``.../nova/1.0`` (docs/formats.md §1). Each child element has its pair of functions
here, one that formats it and one that parses it, side by side; the order of the
children is written once, in ``_CHILDREN``, and both directions follow it.

Everything here is pure: values in, XML out, and back. Talking to libvirt is in
``guestmeta.libvirt.domain``; what a server's element should say is in
``guestmeta.domainxml.desired``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from xml.etree.ElementTree import canonicalize

from lxml import etree

from guestmeta.domainxml.safe import MetadataError, parse_xml

NS = "http://openstack.org/xmlns/libvirt/nova/1.1"
NS_1_0 = "http://openstack.org/xmlns/libvirt/nova/1.0"
NAMESPACES = (NS, NS_1_0)
PREFIX = "nova"
KEY = "instance"  # the element's local name (virDomainSetMetadata's key is the prefix)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


# Named tuples rather than frozen dataclasses: a host scan builds thousands of these,
# and a tuple is built several times faster.
class IP(NamedTuple):
    type: str  # "fixed" or "floating"
    address: str
    ip_version: int


class PortIPs(NamedTuple):
    uuid: str
    ips: tuple[IP, ...] = ()


@dataclass(frozen=True, slots=True)
class FlavorInfo:
    name: str
    id: str | None = None
    memory: int | None = None  # MiB
    disk: int | None = None  # GiB
    swap: int | None = None  # MiB, as Nova writes it
    ephemeral: int | None = None  # GiB
    vcpus: int | None = None
    extra_specs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class InstanceMetadata:
    """What the element says; every part but the ports may be missing in XML we read."""

    name: str | None = None
    creation_time: str | None = None
    package: str | None = None
    flavor: FlavorInfo | None = None
    image_uuid: str | None = None
    user_uuid: str | None = None
    user_name: str | None = None
    project_uuid: str | None = None
    project_name: str | None = None
    root_type: str | None = None
    root_uuid: str | None = None
    ports: tuple[PortIPs, ...] = field(default=())
    namespace: str = NS


_SCALARS = (
    "name",
    "creation_time",
    "package",
    "flavor",
    "image_uuid",
    "user_uuid",
    "user_name",
    "project_uuid",
    "project_name",
    "root_type",
    "root_uuid",
)


def differences(old: InstanceMetadata, new: InstanceMetadata) -> list[str]:
    """What changed from ``old`` to ``new``, in words for the agent's log.

    Ports are named one by one (added, removed, addresses changed); other parts by field.
    """
    out = [name for name in _SCALARS if getattr(old, name) != getattr(new, name)]
    if old.namespace != new.namespace:
        out.append("namespace")
    before = {p.uuid: p.ips for p in old.ports}
    after = {p.uuid: p.ips for p in new.ports}
    for uuid, ips in after.items():
        if uuid not in before:
            out.append(f"+port {uuid} {' '.join(ip.address for ip in ips)}".rstrip())
        elif before[uuid] != ips:
            out.append(f"port {uuid} ips {' '.join(ip.address for ip in ips) or '(none)'}")
    out += [f"-port {uuid}" for uuid in before if uuid not in after]
    if not out and [p.uuid for p in old.ports] != [p.uuid for p in new.ports]:
        out.append("port order")
    return out or ["formatting"]


# -- helpers for both directions ------------------------------------------------------------


def _qualified(parent: etree._Element, tag: str) -> str:
    ns = etree.QName(parent).namespace
    return f"{{{ns}}}{tag}" if ns else tag


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str | None) -> Any:
    child = etree.SubElement(parent, _qualified(parent, tag))
    for key, value in attrs.items():
        if value is not None:
            child.set(key, value)
    if text is not None:
        child.text = text
    return child


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _version(address: str) -> int:
    try:
        return ipaddress.ip_address(address).version
    except ValueError:
        return 0


_VERSIONS = {"4": 4, "6": 6}  # what the attribute nearly always says, as int() reads it


def ip_version(given: str | None, address: str) -> int:
    """An address's ``ipVersion`` as written, else as the address says (0: neither)."""
    return _VERSIONS.get(given or "") or _int(given) or _version(address)


def not_ours(root: etree._Element) -> MetadataError:
    tag = root.tag if isinstance(root.tag, str) else ""
    return MetadataError(f"not a nova:instance element: {tag}")


def _children(parent: etree._Element, prefix: str) -> dict[str, etree._Element]:
    """Children by local name (first of each), in one pass: the inventory reads
    thousands of these, and a namespaced ``find`` per child costs several times more."""
    found: dict[str, etree._Element] = {}
    cut = len(prefix)
    for child in parent:
        tag = child.tag
        if isinstance(tag, str) and tag.startswith(prefix):
            found.setdefault(tag[cut:], child)
    return found


# -- one pair per child element ------------------------------------------------------------
# Each formatter adds its child to the root when the value has it; each parser reads the
# child (``el``, found by local name) into a dict of InstanceMetadata fields.

Fields = dict[str, Any]


def _format_package(root: etree._Element, meta: InstanceMetadata) -> None:
    if meta.package is not None:
        _sub(root, "package", version=meta.package)


def _parse_package(el: etree._Element, prefix: str) -> Fields:
    return {"package": el.get("version")}


def _format_name(root: etree._Element, meta: InstanceMetadata) -> None:
    if meta.name is not None:
        _sub(root, "name", meta.name)


def _parse_name(el: etree._Element, prefix: str) -> Fields:
    return {"name": el.text}


def _format_creation_time(root: etree._Element, meta: InstanceMetadata) -> None:
    if meta.creation_time is not None:
        _sub(root, "creationTime", meta.creation_time)


def _parse_creation_time(el: etree._Element, prefix: str) -> Fields:
    return {"creation_time": el.text}


_FLAVOR_NUMBERS = (
    ("memory", "memory"),
    ("disk", "disk"),
    ("swap", "swap"),
    ("ephemeral", "ephemeral"),
    ("vcpus", "vcpus"),
)


def _format_flavor(root: etree._Element, meta: InstanceMetadata) -> None:
    f = meta.flavor
    if f is None:
        return
    flavor = _sub(root, "flavor", name=f.name, id=f.id)
    for tag, attr in _FLAVOR_NUMBERS:
        value = getattr(f, attr)
        if value is not None:
            _sub(flavor, tag, str(value))
    if f.extra_specs:
        specs = _sub(flavor, "extraSpecs")
        for key, spec in f.extra_specs:
            _sub(specs, "extraSpec", spec, name=key)


def _parse_flavor(el: etree._Element, prefix: str) -> Fields:
    parts = _children(el, prefix)
    numbers = {
        attr: _int(parts[tag].text) if tag in parts else None for tag, attr in _FLAVOR_NUMBERS
    }
    specs = parts.get("extraSpecs")
    extra = tuple(
        (spec.get("name", ""), spec.text or "")
        for spec in (specs if specs is not None else ())
        if isinstance(spec.tag, str)
    )
    return {"flavor": FlavorInfo(el.get("name", ""), el.get("id"), extra_specs=extra, **numbers)}


def _format_image(root: etree._Element, meta: InstanceMetadata) -> None:
    if meta.image_uuid is not None:
        _sub(root, "image", uuid=meta.image_uuid)


def _parse_image(el: etree._Element, prefix: str) -> Fields:
    return {"image_uuid": el.get("uuid")}


def _format_owner(root: etree._Element, meta: InstanceMetadata) -> None:
    owner = _sub(root, "owner")
    _sub(owner, "user", meta.user_name or "", uuid=meta.user_uuid)
    _sub(owner, "project", meta.project_name or "", uuid=meta.project_uuid)


def _parse_owner(el: etree._Element, prefix: str) -> Fields:
    people = _children(el, prefix)
    user, project = people.get("user"), people.get("project")
    return {
        "user_uuid": user.get("uuid") if user is not None else None,
        "user_name": user.text if user is not None else None,
        "project_uuid": project.get("uuid") if project is not None else None,
        "project_name": project.text if project is not None else None,
    }


def _format_root(root: etree._Element, meta: InstanceMetadata) -> None:
    if meta.root_type is not None:
        _sub(root, "root", type=meta.root_type, uuid=meta.root_uuid)


def _parse_root(el: etree._Element, prefix: str) -> Fields:
    return {"root_type": el.get("type"), "root_uuid": el.get("uuid")}


def _format_ports(root: etree._Element, meta: InstanceMetadata) -> None:
    ports = _sub(root, "ports")
    for port in meta.ports:
        port_el = _sub(ports, "port", uuid=port.uuid)
        for ip in port.ips:
            _sub(port_el, "ip", type=ip.type, address=ip.address, ipVersion=str(ip.ip_version))


def _parse_ports(el: etree._Element, prefix: str) -> Fields:
    return {"ports": read_ports(el, prefix)}


def read_ports(el: etree._Element, prefix: str) -> tuple[PortIPs, ...]:
    """The ``port`` children of a ``ports`` element with their addresses (both readers).

    Plain iteration and a tag test: a filtered iterator per port costs more than the few
    children it skips, and the inventory reads thousands of these.
    """
    port_tag, ip_tag = f"{prefix}port", f"{prefix}ip"
    ports = []
    for port in el:
        if port.tag != port_tag:
            continue
        ips = []
        for ip in port:
            if ip.tag != ip_tag:
                continue
            address = ip.get("address")
            if address:
                version = ip_version(ip.get("ipVersion"), address)
                ips.append(IP(ip.get("type", "fixed"), address, version))
        ports.append(PortIPs(port.get("uuid", ""), tuple(ips)))
    return tuple(ports)


Formatter = Callable[[etree._Element, InstanceMetadata], None]
Parser = Callable[[etree._Element, str], Fields]

# The children in Nova's order (docs/formats.md §1.2): the writer follows it, the reader
# finds each by its local name.
_CHILDREN: tuple[tuple[str, Formatter, Parser], ...] = (
    ("package", _format_package, _parse_package),
    ("name", _format_name, _parse_name),
    ("creationTime", _format_creation_time, _parse_creation_time),
    ("flavor", _format_flavor, _parse_flavor),
    ("image", _format_image, _parse_image),
    ("owner", _format_owner, _parse_owner),
    ("root", _format_root, _parse_root),
    ("ports", _format_ports, _parse_ports),
)
# -- the element --------------------------------------------------------------------------


def to_element(meta: InstanceMetadata, qualified: bool = True) -> etree._Element:
    """The element in Nova's child order, in the 1.1 namespace.

    ``qualified=False`` gives it without a namespace, which is what
    ``virDomainSetMetadata`` wants: libvirt then puts it in the namespace under the
    ``nova`` prefix itself. (Nova passes a qualified element with the key as prefix,
    which leaves a stray ``xmlns:instance`` declaration in every domain it updates.)
    """
    root = etree.Element(f"{{{NS}}}{KEY}", nsmap={PREFIX: NS}) if qualified else etree.Element(KEY)
    for _tag, format_child, _parse in _CHILDREN:
        format_child(root, meta)
    return root


def to_xml(meta: InstanceMetadata, qualified: bool = True) -> str:
    return etree.tostring(to_element(meta, qualified), encoding="unicode", pretty_print=True)


def from_element(root: etree._Element, namespace: str | None = None) -> InstanceMetadata:
    """Read an element of either namespace; unknown children are ignored.

    ``virDomainGetMetadata`` returns the element stripped of its namespace: pass the
    namespace that was asked for as ``namespace`` to read such an element. What the
    inventory lists alone is read faster by ``domainxml.brief``.
    """
    tag = root.tag if isinstance(root.tag, str) else ""
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        prefix = f"{{{ns}}}"
    else:
        ns, local, prefix = namespace or "", tag, ""
    if ns not in NAMESPACES or local != KEY:
        raise not_ours(root)
    parts = _children(root, prefix)
    values: Fields = {"namespace": ns}
    for name, _format, parse in _CHILDREN:
        child = parts.get(name)
        if child is not None:
            values.update(parse(child, prefix))
    return InstanceMetadata(**values)


def from_xml(xml: str | bytes, namespace: str | None = None) -> InstanceMetadata:
    return from_element(parse_xml(xml), namespace)


def canonical(xml: str | bytes) -> str:
    """A form of the element that ignores formatting and prefixes, for 'did it change?'.

    Raises MetadataError when the XML is malformed: the caller then replaces it.
    """
    root = parse_xml(xml)
    return canonicalize(
        etree.tostring(root, encoding="unicode"), strip_text=True, rewrite_prefixes=True
    )
