"""The reconcile logic on libvirt's in-process test driver (``test:///default``): fast.

The test driver keeps live and saved definitions apart and supports setMetadata with
both flags, which is all the reconciler needs.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import libvirt
import pytest

from guestmeta.domainxml import desired
from guestmeta.host import wanted
from guestmeta.libvirt import CONFIG, LIVE, full_pass, load, sync
from guestmeta.model import Topology
from tests.libvirt.conftest import (
    HOST,
    NS,
    OTHER_NS,
    PORT_OFF0,
    PORT_RUN0,
    SERVER_OFF,
    SERVER_RUN,
)

_names = itertools.count()


@pytest.fixture
def conn() -> Iterator[Any]:
    opened = libvirt.open("test:///default")
    made: list[Any] = []

    def make(name: str, start: bool) -> Any:
        dom = opened.defineXML(
            f"<domain type='test'><name>{name}</name><memory>1024</memory>"
            "<os><type>hvm</type></os></domain>"
        )
        if start:
            dom.create()
        made.append(dom)
        return dom

    opened.make = make
    try:
        yield opened
    finally:
        for dom in made:
            try:
                if dom.isActive():
                    dom.destroy()
                dom.undefine()
            except libvirt.libvirtError:
                pass
        opened.close()


class Counting:
    """A domain that records the flags of every setMetadata call made through it."""

    def __init__(self, dom: Any) -> None:
        self.dom = dom
        self.writes: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.dom, name)

    def setMetadata(self, *args: Any) -> Any:
        self.writes.append(args[-1])
        return self.dom.setMetadata(*args)


def port_uuids(dom: Any, flags: int) -> list[str]:
    meta = load(dom, flags)
    assert meta is not None
    return [p.uuid for p in meta.ports]


def test_running_domain_gets_live_and_config_in_one_write(conn: Any, topology: Topology) -> None:
    dom = Counting(conn.make(f"gm-{next(_names)}", start=True))
    outcome = sync(dom, desired(topology, SERVER_RUN))
    assert outcome.written == ("live", "config")
    assert outcome.changes == ("element missing",)
    assert dom.writes == [LIVE | CONFIG]
    assert port_uuids(dom, LIVE) == [PORT_RUN0]
    assert port_uuids(dom, CONFIG) == [PORT_RUN0]


def test_nothing_is_written_when_nothing_differs(conn: Any, topology: Topology) -> None:
    dom = Counting(conn.make(f"gm-{next(_names)}", start=True))
    want = desired(topology, SERVER_RUN)
    sync(dom, want)
    dom.writes.clear()
    assert sync(dom, want).written == ()
    assert dom.writes == []


def test_shut_off_domain_gets_config_only(conn: Any, topology: Topology) -> None:
    dom = Counting(conn.make(f"gm-{next(_names)}", start=False))
    assert sync(dom, desired(topology, SERVER_OFF)).written == ("config",)
    assert dom.writes == [CONFIG]
    assert port_uuids(dom, CONFIG) == [PORT_OFF0]


def test_live_and_config_are_compared_separately(conn: Any, topology: Topology) -> None:
    dom = Counting(conn.make(f"gm-{next(_names)}", start=True))
    want = desired(topology, SERVER_RUN)
    sync(dom, want)
    # Someone rewrites only the saved definition, with a stale port list.
    dom.dom.setMetadata(
        libvirt.VIR_DOMAIN_METADATA_ELEMENT, "<instance><ports/></instance>", "nova", NS, CONFIG
    )
    dom.writes.clear()
    outcome = sync(dom, want)
    assert outcome.written == ("config",)
    assert dom.writes == [CONFIG]
    assert f"+port {PORT_RUN0} 192.168.10.11 2001:db8:10::11" in outcome.changes
    assert port_uuids(dom, CONFIG) == [PORT_RUN0]


def test_formatting_and_prefix_differences_do_not_count(conn: Any, topology: Topology) -> None:
    dom = Counting(conn.make(f"gm-{next(_names)}", start=False))
    want = desired(topology, SERVER_OFF)
    sync(dom, want)
    current = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, NS, CONFIG)
    squeezed = "".join(line.strip() for line in current.splitlines())
    dom.dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, squeezed, "x", NS, CONFIG)
    dom.writes.clear()
    assert sync(dom, want).written == ()
    assert dom.writes == []


def test_a_malformed_element_of_ours_is_replaced(conn: Any, topology: Topology) -> None:
    dom = conn.make(f"gm-{next(_names)}", start=False)
    dom.setMetadata(
        libvirt.VIR_DOMAIN_METADATA_ELEMENT, "<garbage><x/></garbage>", "nova", NS, CONFIG
    )
    outcome = sync(dom, desired(topology, SERVER_OFF))
    assert outcome.written == ("config",)
    assert outcome.changes[0].startswith("element malformed")
    assert port_uuids(dom, CONFIG) == [PORT_OFF0]


def test_other_namespaces_survive(conn: Any, topology: Topology) -> None:
    dom = conn.make(f"gm-{next(_names)}", start=True)
    other = '<policy schedule="daily"><keep>7</keep></policy>'
    dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, other, "bk", OTHER_NS, LIVE | CONFIG)
    sync(dom, desired(topology, SERVER_RUN))
    for flags in (LIVE, CONFIG):
        kept = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, OTHER_NS, flags)
        assert 'schedule="daily"' in kept
        assert "<keep>7</keep>" in kept


class Vanishing:
    """A domain undefined between the listing and the read."""

    def __init__(self, dom: Any) -> None:
        self.dom = dom

    def __getattr__(self, name: str) -> Any:
        return getattr(self.dom, name)

    def metadata(self, *_args: Any) -> Any:
        err = libvirt.libvirtError("gone")
        err.err = (libvirt.VIR_ERR_NO_DOMAIN, 0, "Domain not found", 2, "", None, None, 0, 0)
        raise err


class Broken(Vanishing):
    def metadata(self, *_args: Any) -> Any:
        err = libvirt.libvirtError("broken")
        err.err = (libvirt.VIR_ERR_INTERNAL_ERROR, 0, "disk on fire", 2, "", None, None, 0, 0)
        raise err


class Listing:
    """A connection whose domain list holds wrapped domains."""

    def __init__(self, conn: Any, wrap: dict[str, type]) -> None:
        self.conn = conn
        self.wrap = wrap

    def listAllDomains(self, flags: int = 0) -> list[Any]:
        return [self.wrap.get(d.name(), lambda x: x)(d) for d in self.conn.listAllDomains(flags)]

    def isAlive(self) -> int:
        return 1


def test_one_bad_domain_and_one_vanished_domain_never_stop_the_pass(
    conn: Any, topology: Topology
) -> None:
    names = [f"gm-{next(_names)}" for _ in range(3)]
    for name in names:
        conn.make(name, start=False)
    want = desired(topology, SERVER_OFF)
    wants = dict.fromkeys(names, want)
    report = full_pass(Listing(conn, {names[0]: Broken, names[1]: Vanishing}), wants)
    assert report.checked == 3
    assert [(o.domain, o.error) for o in report.failed] == [(names[0], "disk on fire")]
    assert [o.domain for o in report.outcomes if o.vanished] == [names[1]]
    assert [o.domain for o in report.written] == [names[2]]
    assert port_uuids(conn.lookupByName(names[2]), CONFIG) == [PORT_OFF0]


def test_wanted_names_only_this_hosts_domains(topology: Topology) -> None:
    assert sorted(wanted(topology, HOST)) == ["gmtest-off", "gmtest-run"]
    assert wanted(topology, "elsewhere") == {}
