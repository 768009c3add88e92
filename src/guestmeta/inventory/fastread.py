"""Reading what the inventory lists from a parsed domain, in as few steps as lxml allows.

A host scan reads a thousand domains. lxml parses each one fast; what costs is asking the
tree: every ``find`` goes through lxml's path language in Python, several microseconds
each, and a scan made some ten of them per domain, more than the parse itself. Walking
the children once, or letting lxml pick children by tag in C (``iterchildren``), gives
the same elements for a fraction of that.

The answers are those of the element parser of the rest of the project: the first child
of each name counts, children of other names or namespaces are skipped, and a port or
address is read exactly as there. This module parses nothing itself; its callers parse
with the project's safe parser.
"""

from __future__ import annotations

import ipaddress

from lxml import etree

from guestmeta.inventory.rows import IP, InstanceMetadata, PortIPs

Parts = tuple[etree._Element | None, etree._Element | None, etree._Element | None]


_VERSIONS = {"4": 4, "6": 6}  # what the attribute nearly always says, as int() reads it


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


class ElementReader:
    """Reads our element of any of ``namespaces`` (newest first), local name ``key``.

    The tags it compares are made once here rather than per domain.
    """

    def __init__(self, namespaces: tuple[str, ...], key: str) -> None:
        self.namespaces = namespaces
        self.key = key
        self._elements = tuple(f"{{{ns}}}{key}" for ns in namespaces)
        # By the element's tag: its namespace, and the tags of the children we read.
        self._tags: dict[str, tuple[str, tuple[str, ...]]] = {
            f"{{{ns}}}{key}": (ns, self._children(f"{{{ns}}}")) for ns in namespaces
        }
        self._bare = self._children("")

    @staticmethod
    def _children(prefix: str) -> tuple[str, ...]:
        return tuple(
            f"{prefix}{tag}" for tag in ("name", "owner", "ports", "project", "port", "ip")
        )

    def domain_parts(self, domain: etree._Element) -> Parts:
        """The domain's first ``name`` and ``uuid`` children and our element in ``metadata``.

        Our element is the first of the first namespace in the first ``metadata``, else
        the first of the next namespace: a domain that has both a 1.1 and a 1.0 element
        was updated by a newer Nova.
        """
        name = uuid = metadata = None
        for child in domain:
            tag = child.tag
            if tag == "name":
                if name is None:
                    name = child
            elif tag == "uuid":
                if uuid is None:
                    uuid = child
            elif tag == "metadata" and metadata is None:
                metadata = child
        if metadata is None:
            return name, uuid, None
        for tag in self._elements:
            element = next(metadata.iterchildren(tag), None)
            if element is not None:
                return name, uuid, element
        return name, uuid, None

    def instance(
        self, root: etree._Element, namespace: str | None = None
    ) -> InstanceMetadata | None:
        """Our element read brief (name, project and ports), or None if it is not one.

        ``root`` is our element in one of the namespaces or, as ``virDomainGetMetadata``
        returns it, bare (no namespace) and read as ``namespace``. None for anything
        else: the caller then asks the full element parser, which says why it is not ours.
        """
        found = self._tags.get(root.tag) if isinstance(root.tag, str) else None
        if found is not None:
            ns, tags = found
        elif root.tag == self.key and namespace in self.namespaces:
            ns, tags = namespace, self._bare
        else:
            return None
        name_tag, owner_tag, ports_tag, project_tag, port_tag, ip_tag = tags
        name = owner = ports_el = None
        for child in root:
            tag = child.tag
            if tag == name_tag:
                if name is None:
                    name = child
            elif tag == owner_tag:
                if owner is None:
                    owner = child
            elif tag == ports_tag and ports_el is None:
                ports_el = child
        project = next(owner.iterchildren(project_tag), None) if owner is not None else None
        ports = []
        # Plain iteration and a tag test: a filtered iterator per port costs more than
        # the few children it skips.
        for port in ports_el if ports_el is not None else ():
            if port.tag != port_tag:
                continue
            ips = []
            for ip in port:
                if ip.tag != ip_tag:
                    continue
                address = ip.get("address")
                if address:
                    given = ip.get("ipVersion")
                    version = _VERSIONS.get(given or "") or _int(given) or _version(address)
                    ips.append(IP(ip.get("type", "fixed"), address, version))
            ports.append(PortIPs(port.get("uuid", ""), tuple(ips)))
        return InstanceMetadata(
            name=name.text if name is not None else None,
            project_uuid=project.get("uuid") if project is not None else None,
            ports=tuple(ports),
            namespace=ns,
        )
