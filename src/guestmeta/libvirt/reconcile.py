"""Make a domain's ``nova:instance`` element equal to the store's, live and saved.

The running definition and the saved one are compared separately, each in a canonical
form (formatting and prefixes do not count), and only the ones that differ are
written, in one ``virDomainSetMetadata`` call: an unchanged host costs one cheap read
per definition and no write. A missing, stale or malformed element of ours is
replaced; other applications' elements are never touched, because setMetadata
replaces only the element of our namespace.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import libvirt

from guestmeta.domainxml import (
    NS,
    InstanceMetadata,
    MetadataError,
    canonical,
    differences,
    from_xml,
)
from guestmeta.libvirt.connection import is_no_domain, reason
from guestmeta.libvirt.domain import CONFIG, LIVE, element_xml, read, write

# Called with the domain name just before we write, so the caller can tell the
# metadata-changed event our own write causes from someone else's.
BeforeWrite = Callable[[str], None]


class ConnectionLost(RuntimeError):
    """libvirtd went away in the middle of a pass."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one domain: written (live/config, and why), failed, or gone."""

    domain: str
    written: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()
    error: str | None = None
    vanished: bool = False

    def describe(self) -> str:
        if self.vanished:
            return f"{self.domain}: gone before it could be checked"
        if self.error is not None:
            return f"{self.domain}: failed: {self.error}"
        if not self.written:
            return f"{self.domain}: up to date"
        return f"{self.domain}: wrote {'+'.join(self.written)} ({'; '.join(self.changes)})"


@dataclass
class PassReport:
    """A pass over a host: how many domains were ours, and what happened to them."""

    checked: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def written(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.written]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error is not None]

    def summary(self) -> str:
        return (
            f"checked {self.checked} domain(s), wrote {len(self.written)}, "
            f"failed {len(self.failed)} in {self.seconds:.2f} s"
        )


_EMPTY = re.compile(r"<([\w:.-]+)([^<>]*)></\1>")


@functools.lru_cache(maxsize=8192)
def _forms(want: InstanceMetadata) -> tuple[str, str, str]:
    """(XML to write, the text libvirt gives back for it, its canonical form).

    libvirt hands our element back as we wrote it but with empty elements closed short
    (``<user/>``); comparing that text first spares the canonical form (a fresh parse,
    about 0.2 ms) for every unchanged domain of a pass.
    """
    xml = element_xml(want)
    return xml, _EMPTY.sub(r"<\1\2/>", xml).strip(), canonical(xml)


def _stale(
    current: str | None, want: InstanceMetadata, forms: tuple[str, str, str]
) -> list[str] | None:
    """Why ``current`` must be replaced, or None when it already says ``want``."""
    if current is None:
        return ["element missing"]
    if current.strip() == forms[1]:
        return None
    try:
        if canonical(current) == forms[2]:
            return None
        return differences(from_xml(current, NS), want)
    except MetadataError as exc:
        return [f"element malformed: {exc}"]


def sync(
    dom: Any,
    want: InstanceMetadata,
    *,
    active: bool | None = None,
    persistent: bool | None = None,
    before_write: BeforeWrite | None = None,
    write_failed: BeforeWrite | None = None,
) -> Outcome:
    """Bring one domain's element to ``want``; raises libvirtError as libvirt does.

    ``active``/``persistent`` save two calls when the caller already knows them;
    ``before_write`` and ``write_failed`` are told the domain name around a write.
    """
    name = dom.name()
    active = dom.isActive() if active is None else active
    persistent = dom.isPersistent() if persistent is None else persistent
    forms = _forms(want)
    flags = 0
    labels: list[str] = []
    changes: list[str] = []
    for flag, label, applies in ((LIVE, "live", active), (CONFIG, "config", persistent)):
        if not applies:
            continue
        why = _stale(read(dom, flag), want, forms)
        if why is not None:
            flags |= flag
            labels.append(label)
            changes += [w for w in why if w not in changes]
    if flags:
        if before_write is not None:
            before_write(name)
        try:
            write(dom, forms[0], flags)
        except libvirt.libvirtError:
            if write_failed is not None:
                write_failed(name)
            raise
    return Outcome(name, tuple(labels), tuple(changes))


def sync_safely(dom: Any, want: InstanceMetadata, **kwargs: Any) -> Outcome:
    """``sync`` that turns a libvirt error into an Outcome, so one domain never stops others."""
    try:
        return sync(dom, want, **kwargs)
    except libvirt.libvirtError as exc:
        name = _name(dom)
        if is_no_domain(exc):
            return Outcome(name, vanished=True)
        return Outcome(name, error=reason(exc))


def _name(dom: Any) -> str:
    try:
        return str(dom.name())
    except libvirt.libvirtError:
        return "?"


def _names(conn: Any, flags: int) -> set[str]:
    return {dom.name() for dom in conn.listAllDomains(flags)}


def full_pass(
    conn: Any,
    wants: Mapping[str, InstanceMetadata],
    *,
    before_write: BeforeWrite | None = None,
    write_failed: BeforeWrite | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> PassReport:
    """Check every domain of ``conn`` that ``wants`` names; write what differs.

    Three list calls tell every domain's state at once, so each domain then costs only
    its metadata reads. Raises ConnectionLost when the daemon goes away mid-pass.
    """
    started = time.perf_counter()
    report = PassReport()
    try:
        domains = conn.listAllDomains(0)
        active = _names(conn, libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
        persistent = _names(conn, libvirt.VIR_CONNECT_LIST_DOMAINS_PERSISTENT)
    except libvirt.libvirtError as exc:
        raise ConnectionLost(reason(exc)) from exc
    for dom in domains:
        name = dom.name()
        want = wants.get(name)
        if want is None:
            continue
        report.checked += 1
        outcome = sync_safely(
            dom,
            want,
            active=name in active,
            persistent=name in persistent,
            before_write=before_write,
            write_failed=write_failed,
        )
        if outcome.error is not None and not _alive(conn):
            raise ConnectionLost(outcome.error)
        if outcome.written or outcome.error is not None or outcome.vanished:
            report.outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    report.seconds = time.perf_counter() - started
    return report


def _alive(conn: Any) -> bool:
    try:
        return bool(conn.isAlive())
    except libvirt.libvirtError:
        return False
