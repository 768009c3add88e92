"""What the inventory lists of a domain (name, uuid; the element's name, project and ports),
read in as few steps as lxml allows.

A host scan reads a thousand domains. lxml parses each one fast; what costs is asking the
tree: every ``find`` goes through lxml's path language in Python, several microseconds
each, and a scan made some ten of them per domain, more than the parse itself. Walking
the children once, or letting lxml pick children by tag in C (``iterchildren``), gives
the same elements for a fraction of that.

The answers are those of the full reader (``instance.from_element``) for the fields read:
the first child of each name counts, children of other names or namespaces are skipped,
and a port or address is read exactly as there. Nothing is parsed here: callers parse
with the safe parser (``domainxml.safe``).
"""

from __future__ import annotations

from lxml import etree

from guestmeta.domainxml.instance import KEY, NAMESPACES, InstanceMetadata, not_ours, read_ports

Parts = tuple[etree._Element | None, etree._Element | None, etree._Element | None]

_CHILD_TAGS = ("name", "owner", "ports", "project")
_ELEMENTS = tuple(f"{{{ns}}}{KEY}" for ns in NAMESPACES)
# By the element's tag: its namespace, its prefix and the tags of the children we read.
_TAGS = {
    f"{{{ns}}}{KEY}": (ns, f"{{{ns}}}", tuple(f"{{{ns}}}{t}" for t in _CHILD_TAGS))
    for ns in NAMESPACES
}


def domain_parts(domain: etree._Element) -> Parts:
    """The domain's first ``name`` and ``uuid`` children and our element in ``metadata``.

    Our element is the first of the 1.1 namespace in the first ``metadata``, else the
    first of 1.0: a domain that has both was updated by a newer Nova.
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
    for tag in _ELEMENTS:
        element = next(metadata.iterchildren(tag), None)
        if element is not None:
            return name, uuid, element
    return name, uuid, None


def read_brief(root: etree._Element, namespace: str | None = None) -> InstanceMetadata:
    """Our element read brief (name, project and ports); MetadataError if it is not one.

    ``root`` is our element in one of the namespaces or, as ``virDomainGetMetadata``
    returns it, bare (no namespace) and read as ``namespace``.
    """
    found = _TAGS.get(root.tag) if isinstance(root.tag, str) else None
    if found is not None:
        ns, prefix, tags = found
    elif root.tag == KEY and namespace in NAMESPACES:
        ns, prefix, tags = namespace, "", _CHILD_TAGS
    else:
        raise not_ours(root)
    name_tag, owner_tag, ports_tag, project_tag = tags
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
    ports = read_ports(ports_el, prefix) if ports_el is not None else ()
    return InstanceMetadata(
        name=name.text if name is not None else None,
        project_uuid=project.get("uuid") if project is not None else None,
        ports=ports,
        namespace=ns,
    )
