"""The ``<nova:instance>`` element that libvirt keeps in a domain's ``<metadata>``.

Nova writes this element and exporters, ceilometer and operators' scripts read it, so we
write the same shape in the same namespace (``.../nova/1.1``) and read both that and the
older ``.../nova/1.0``. Unlike Nova we list floating IPs next to the fixed ones, keep the
server's real creation time, and never fail the whole element for one odd port.

Everything here is pure: values in, XML out, and back. Talking to libvirt is in
``guestmeta.libvirt.domain``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC
from importlib.metadata import PackageNotFoundError, version
from typing import NamedTuple
from xml.etree.ElementTree import canonicalize

from lxml import etree

from guestmeta.model import FloatingIP, Port, Server, Topology

NS = "http://openstack.org/xmlns/libvirt/nova/1.1"
NS_1_0 = "http://openstack.org/xmlns/libvirt/nova/1.0"
NAMESPACES = (NS, NS_1_0)
PREFIX = "nova"
KEY = "instance"  # the element's local name, and the key virDomainSetMetadata wants
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class MetadataError(ValueError):
    """The XML is not a ``nova:instance`` element we can read."""


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


def package_version() -> str:
    try:
        return version("guestmeta")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0"


def _ip(address: str, kind: str) -> IP:
    return IP(kind, address, ipaddress.ip_address(address).version)


class _Index:
    """Ports by server and floating IPs by port, built once for many servers.

    Asking the topology per server scans every port and floating IP each time, which
    turns a host of a thousand servers into a million steps per pass.
    """

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.ports: dict[str, list[Port]] = {}
        for port in topology.ports.values():
            if port.device_id:
                self.ports.setdefault(port.device_id, []).append(port)
        for ports in self.ports.values():
            ports.sort(key=lambda p: (p.seq, p.id))
        self.floating: dict[str, list[FloatingIP]] = {}
        for fip in topology.floatingips.values():
            if fip.port_id:
                self.floating.setdefault(fip.port_id, []).append(fip)

    def port_ips(self, port: Port) -> PortIPs:
        ips = [_ip(fixed.ip_address, "fixed") for fixed in port.fixed_ips]
        floating = sorted(
            self.floating.get(port.id, ()),
            key=lambda fip: (fip.fixed_ip_address or "", fip.floating_ip_address),
        )
        ips += [_ip(fip.floating_ip_address, "floating") for fip in floating]
        return PortIPs(port.id, tuple(ips))

    def server_port_ips(self, server_id: str) -> tuple[PortIPs, ...]:
        result: list[PortIPs] = []
        for port in self.ports.get(server_id, ()):
            result.append(self.port_ips(port))
            if port.trunk is not None:
                for sub in sorted(port.trunk.sub_ports, key=lambda s: s.segmentation_id):
                    sub_port = self.topology.ports.get(sub.port_id)
                    if sub_port is not None:
                        result.append(self.port_ips(sub_port))
        return tuple(result)


def port_ips(topology: Topology, port: Port) -> PortIPs:
    """A port's fixed IPs in their order, then the floating IPs that point at it."""
    return _Index(topology).port_ips(port)


def server_port_ips(topology: Topology, server_id: str) -> tuple[PortIPs, ...]:
    """Every port of the server in attachment order, each trunk's sub-ports after it."""
    return _Index(topology).server_port_ips(server_id)


def desired(topology: Topology, server_id: str, package: str | None = None) -> InstanceMetadata:
    """The element a server's domain should carry, from the store's view of it."""
    return desired_many(topology, [server_id], package)[server_id]


def desired_many(
    topology: Topology, server_ids: Iterable[str], package: str | None = None
) -> dict[str, InstanceMetadata]:
    """``desired`` for many servers at the cost of one walk over the ports."""
    index = _Index(topology)
    package = package if package is not None else package_version()
    return {sid: _desired(topology.servers[sid], index, package) for sid in server_ids}


def _desired(server: Server, index: _Index, package: str) -> InstanceMetadata:
    flavor = server.flavor
    return InstanceMetadata(
        name=server.name,
        creation_time=server.created.astimezone(UTC).strftime(TIME_FORMAT),
        package=package,
        flavor=FlavorInfo(
            name=flavor.name,
            id=flavor.id,
            memory=flavor.ram,
            disk=flavor.disk,
            swap=flavor.swap,
            ephemeral=flavor.ephemeral,
            vcpus=flavor.vcpus,
            extra_specs=tuple(sorted(flavor.extra_specs.items())),
        ),
        image_uuid=server.image_id,
        user_uuid=server.user_id,
        user_name=server.user_name,
        project_uuid=server.project_id,
        project_name=server.project_name,
        root_type="image" if server.image_id else None,
        root_uuid=server.image_id,
        ports=index.server_port_ips(server.id),
    )


def differences(old: InstanceMetadata, new: InstanceMetadata) -> list[str]:
    """What changed from ``old`` to ``new``, in words for the agent's log.

    Ports are named one by one (added, removed, addresses changed); other parts by field.
    """
    out = [
        name
        for name in (
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
        if getattr(old, name) != getattr(new, name)
    ]
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


# -- writing ------------------------------------------------------------------------


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str | None) -> None:
    child = etree.SubElement(parent, _qualified(parent, tag))
    for key, value in attrs.items():
        if value is not None:
            child.set(key, value)
    if text is not None:
        child.text = text


def _qualified(parent: etree._Element, tag: str) -> str:
    ns = etree.QName(parent).namespace
    return f"{{{ns}}}{tag}" if ns else tag


def to_element(meta: InstanceMetadata, qualified: bool = True) -> etree._Element:
    """The element in Nova's child order (formats.md §1), in the 1.1 namespace.

    ``qualified=False`` gives it without a namespace, which is what
    ``virDomainSetMetadata`` wants: libvirt then puts it in the namespace under the
    ``nova`` prefix itself. (Nova passes a qualified element with the key as prefix,
    which leaves a stray ``xmlns:instance`` declaration in every domain it updates.)
    """
    root = etree.Element(f"{{{NS}}}{KEY}", nsmap={PREFIX: NS}) if qualified else etree.Element(KEY)
    if meta.package is not None:
        _sub(root, "package", version=meta.package)
    if meta.name is not None:
        _sub(root, "name", meta.name)
    if meta.creation_time is not None:
        _sub(root, "creationTime", meta.creation_time)
    if meta.flavor is not None:
        f = meta.flavor
        flavor = etree.SubElement(root, _qualified(root, "flavor"), name=f.name)
        if f.id is not None:
            flavor.set("id", f.id)
        for tag, value in (
            ("memory", f.memory),
            ("disk", f.disk),
            ("swap", f.swap),
            ("ephemeral", f.ephemeral),
            ("vcpus", f.vcpus),
        ):
            if value is not None:
                _sub(flavor, tag, str(value))
        if f.extra_specs:
            specs = etree.SubElement(flavor, _qualified(flavor, "extraSpecs"))
            for key, spec in f.extra_specs:
                _sub(specs, "extraSpec", spec, name=key)
    if meta.image_uuid is not None:
        _sub(root, "image", uuid=meta.image_uuid)
    owner = etree.SubElement(root, _qualified(root, "owner"))
    _sub(owner, "user", meta.user_name or "", uuid=meta.user_uuid)
    _sub(owner, "project", meta.project_name or "", uuid=meta.project_uuid)
    if meta.root_type is not None:
        _sub(root, "root", type=meta.root_type, uuid=meta.root_uuid)
    ports = etree.SubElement(root, _qualified(root, "ports"))
    for port in meta.ports:
        port_el = etree.SubElement(ports, _qualified(ports, "port"), uuid=port.uuid)
        for ip in port.ips:
            _sub(port_el, "ip", type=ip.type, address=ip.address, ipVersion=str(ip.ip_version))
    return root


def to_xml(meta: InstanceMetadata, qualified: bool = True) -> str:
    return etree.tostring(to_element(meta, qualified), encoding="unicode", pretty_print=True)


# -- reading ------------------------------------------------------------------------

# Domain XML can come from anyone who can write a file or call virsh: never expand
# entities, never fetch anything, and refuse the huge-tree mode.
PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=True
)


def parse_xml(xml: str | bytes) -> etree._Element:
    """Parse XML safely; raises MetadataError with libxml2's one-line reason."""
    try:
        data = xml.encode() if isinstance(xml, str) else xml
        return etree.fromstring(data, PARSER)
    except etree.XMLSyntaxError as exc:
        raise MetadataError(f"malformed XML: {exc}") from None


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


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


def _flavor(el: etree._Element, prefix: str) -> FlavorInfo:
    parts = _children(el, prefix)

    def number(tag: str) -> int | None:
        child = parts.get(tag)
        return _int(child.text) if child is not None else None

    specs = parts.get("extraSpecs")
    return FlavorInfo(
        name=el.get("name", ""),
        id=el.get("id"),
        memory=number("memory"),
        disk=number("disk"),
        swap=number("swap"),
        ephemeral=number("ephemeral"),
        vcpus=number("vcpus"),
        extra_specs=tuple(
            (spec.get("name", ""), spec.text or "")
            for spec in (specs if specs is not None else ())
            if isinstance(spec.tag, str)
        ),
    )


def _ports(el: etree._Element, prefix: str) -> tuple[PortIPs, ...]:
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
                version = _int(ip.get("ipVersion")) or _version(address)
                ips.append(IP(ip.get("type", "fixed"), address, version))
        ports.append(PortIPs(port.get("uuid", ""), tuple(ips)))
    return tuple(ports)


def from_element(
    root: etree._Element, namespace: str | None = None, *, brief: bool = False
) -> InstanceMetadata:
    """Read an element of either namespace; unknown children are ignored.

    ``virDomainGetMetadata`` returns the element stripped of its namespace: pass the
    namespace that was asked for as ``namespace`` to read such an element. ``brief``
    reads only what the inventory lists (name, project, ports): a host scan reads
    thousands of these, and the flavor alone is a fifth of the work.
    """
    tag = root.tag if isinstance(root.tag, str) else ""
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        prefix = f"{{{ns}}}"
    else:
        ns, local, prefix = namespace or "", tag, ""
    if ns not in NAMESPACES or local != KEY:
        raise MetadataError(f"not a nova:instance element: {tag}")
    parts = _children(root, prefix)
    owner = parts.get("owner")
    if brief:
        name, ports = parts.get("name"), parts.get("ports")
        project = _children(owner, prefix).get("project") if owner is not None else None
        return InstanceMetadata(
            name=name.text if name is not None else None,
            project_uuid=project.get("uuid") if project is not None else None,
            ports=_ports(ports, prefix) if ports is not None else (),
            namespace=ns,
        )
    people = _children(owner, prefix) if owner is not None else {}
    user, project = people.get("user"), people.get("project")
    package, image, root_el = parts.get("package"), parts.get("image"), parts.get("root")
    name, created = parts.get("name"), parts.get("creationTime")
    flavor, ports = parts.get("flavor"), parts.get("ports")
    return InstanceMetadata(
        name=name.text if name is not None else None,
        creation_time=created.text if created is not None else None,
        package=package.get("version") if package is not None else None,
        flavor=_flavor(flavor, prefix) if flavor is not None else None,
        image_uuid=image.get("uuid") if image is not None else None,
        user_uuid=user.get("uuid") if user is not None else None,
        user_name=user.text if user is not None else None,
        project_uuid=project.get("uuid") if project is not None else None,
        project_name=project.text if project is not None else None,
        root_type=root_el.get("type") if root_el is not None else None,
        root_uuid=root_el.get("uuid") if root_el is not None else None,
        ports=_ports(ports, prefix) if ports is not None else (),
        namespace=ns,
    )


def _version(address: str) -> int:
    try:
        return ipaddress.ip_address(address).version
    except ValueError:
        return 0


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
