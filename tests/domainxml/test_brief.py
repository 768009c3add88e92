"""The brief reader the inventory uses gives what the full element reader gives for the
fields it reads, on odd and random elements alike: it is only allowed to be faster."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from guestmeta.domainxml import (
    PARSER,
    InstanceMetadata,
    MetadataError,
    domain_parts,
    from_element,
    read_brief,
)
from tests.inventory.files import NS_1_0, NS_1_1

OTHER = "urn:example:app"
PREFIXES = {NS_1_1: "nova", NS_1_0: "old", OTHER: "app"}
DECLARATIONS = " ".join(f'xmlns:{prefix}="{ns}"' for ns, prefix in PREFIXES.items())


def parse(xml: str) -> etree._Element:
    return etree.fromstring(xml.encode(), PARSER)


def by_find(domain: etree._Element) -> tuple[str | None, str | None, etree._Element | None]:
    """What the file scan read before: find per part, 1.1 before 1.0."""
    metadata = domain.find("metadata")
    element = None
    if metadata is not None:
        for ns in (NS_1_1, NS_1_0):
            element = metadata.find(f"{{{ns}}}instance")
            if element is not None:
                break
    return domain.findtext("name"), domain.findtext("uuid"), element


def same_as_parser(element: etree._Element, namespace: str | None = None) -> None:
    full = from_element(element, namespace)
    assert read_brief(element, namespace) == InstanceMetadata(
        name=full.name, project_uuid=full.project_uuid, ports=full.ports, namespace=full.namespace
    )


ODD = [
    # Duplicates: the first of each name counts.
    "<nova:name>a</nova:name><nova:name>b</nova:name>"
    "<nova:ports><nova:port uuid='p1'><nova:ip address='10.0.0.1'/></nova:port></nova:ports>"
    "<nova:ports><nova:port uuid='p2'><nova:ip address='10.0.0.2'/></nova:port></nova:ports>",
    # Comments, CDATA and foreign elements among the children; a name with a child.
    "<!-- c --><nova:name>we<!-- x -->b<![CDATA[-1]]></nova:name><app:name>no</app:name>"
    "<nova:owner><app:project uuid='no'/><nova:project uuid='yes'/></nova:owner>"
    "<nova:ports><!-- c --><app:port uuid='no'/><nova:port><?pi x?><nova:ip/>"
    "<nova:ip address='2001:DB8::1'/><nova:ip address='x' ipVersion='four'/>"
    "<nova:ip address='10.0.0.1' ipVersion=' +4 '/><nova:ip address='10.0.0.1' ipVersion='0'/>"
    "<nova:ip address='10.0.0.1' ipVersion='4_0' type=''/><app:ip address='1.1.1.1'/>"
    "</nova:port></nova:ports>",
    "<nova:name>  </nova:name><nova:owner/><nova:ports/>",
    "<nova:name><app:x/>text</nova:name><nova:ports><nova:port uuid=''>"
    "<nova:ip address='' type='floating'/><nova:ip type='floating' address='&#49;.2.3.4'/>"
    "</nova:port></nova:ports>",
    "<old:name>wrong namespace</old:name><name>none</name>",
    "<nova:ports><nova:port uuid='p'><nova:ip address='2001:db8::1' ipVersion='6'/>"
    "<nova:ip address='10.0.0.1' ipVersion='4' type='fixed'/><nova:ip address='10.0.0.2'/>"
    "</nova:port></nova:ports>",
    "",
]


@pytest.mark.parametrize("body", ODD)
@pytest.mark.parametrize("ns", [NS_1_1, NS_1_0])
def test_odd_elements(body: str, ns: str) -> None:
    prefix = PREFIXES[ns]
    text = body.replace("nova:", f"{prefix}:") if prefix != "nova" else body
    same_as_parser(parse(f"<{prefix}:instance {DECLARATIONS}>{text}</{prefix}:instance>"))


@pytest.mark.parametrize("body", ODD)
@pytest.mark.parametrize("ns", [NS_1_1, NS_1_0])
def test_odd_elements_as_libvirt_returns_them(body: str, ns: str) -> None:
    # virDomainGetMetadata strips our namespace: the children are bare.
    bare = body.replace("nova:", "")
    same_as_parser(parse(f"<instance {DECLARATIONS}>{bare}</instance>"), ns)


@pytest.mark.parametrize(
    "xml",
    [
        f"<app:instance {DECLARATIONS}/>",
        f"<nova:other {DECLARATIONS}/>",
        "<other/>",
        f"<instance xmlns='{OTHER}'/>",
    ],
)
def test_not_ours_is_refused_as_the_full_reader_refuses_it(xml: str) -> None:
    with pytest.raises(MetadataError) as full:
        from_element(parse(xml), NS_1_1)
    with pytest.raises(MetadataError) as brief:
        read_brief(parse(xml), NS_1_1)
    assert str(brief.value) == str(full.value)


@pytest.mark.parametrize(
    "metadata",
    [
        "",
        "<metadata/>",
        f"<metadata><old:instance {DECLARATIONS}><old:name>old</old:name></old:instance>"
        f"<nova:instance {DECLARATIONS}><nova:name>new</nova:name></nova:instance></metadata>",
        f"<metadata><app:instance {DECLARATIONS}/><nova:instance {DECLARATIONS}/>"
        f"<nova:instance {DECLARATIONS}><nova:name>second</nova:name></nova:instance></metadata>",
        f"<metadata/><metadata><nova:instance {DECLARATIONS}/></metadata>",
    ],
)
@pytest.mark.parametrize(
    "names",
    ["<name>a</name><uuid>u</uuid>", "<uuid/><name/>", "<!-- c --><name>a<x/>b</name>", ""],
)
def test_domain_parts(metadata: str, names: str) -> None:
    domain = parse(f"<domain>{names}<name>second</name>{metadata}<uuid>second</uuid></domain>")
    name, uuid, element = domain_parts(domain)
    want_name, want_uuid, want_element = by_find(domain)
    assert ((name.text or "") if name is not None else None) == want_name
    assert ((uuid.text or "") if uuid is not None else None) == want_uuid
    assert element is want_element


# -- random elements ---------------------------------------------------------------

# By depth, so that ports/port/ip and owner/project chains come up often.
TAGS = [["name", "owner", "ports", "flavor"], ["port", "project", "ip", "name"], ["ip", "port"]]
ATTRS = st.dictionaries(
    st.sampled_from(["uuid", "address", "type", "ipVersion"]),
    st.sampled_from(["", "4", "6", "x", "10.0.0.1", "2001:db8::1", "fixed", "floating"]),
    max_size=3,
)


@st.composite
def elements(draw: st.DrawFn, depth: int = 0) -> str:
    prefix = draw(st.sampled_from(["nova", "nova", "nova", "app", ""]))
    local = draw(st.sampled_from(TAGS[min(depth, 2)]))
    tag = f"{prefix}:{local}" if prefix else local
    attrs = "".join(f' {k}="{v}"' for k, v in draw(ATTRS).items())
    text = draw(st.sampled_from(["", "", "web-1", " ", "<!-- c -->"]))
    children = draw(st.lists(elements(depth + 1), max_size=3)) if depth < 3 else []
    return f"<{tag}{attrs}>{text}{''.join(children)}</{tag}>"


@settings(max_examples=100, deadline=None)
@given(st.lists(elements(), max_size=5))
def test_random_elements(children: list[str]) -> None:
    body = "".join(children)
    same_as_parser(parse(f"<nova:instance {DECLARATIONS}>{body}</nova:instance>"))
    bare = body.replace("<nova:", "<").replace("</nova:", "</")
    same_as_parser(parse(f"<instance {DECLARATIONS}>{bare}</instance>"), NS_1_1)
