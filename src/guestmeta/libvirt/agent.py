"""The host agent: keeps every local domain's metadata equal to the store, all the time.

Three things wake it: a new store revision (a thread blocks on the store's
notification), a libvirt event (device added or removed, domain defined or started,
our element changed by someone else) and a timer for the periodic full pass that
catches anything missed. All work then happens on one thread, so libvirt sees one
writer and the log reads in order.

On a new revision only the domains whose desired element changed are looked at, so a
store change reaches the domain XML in milliseconds even on a host with a thousand
guests. When libvirtd goes away the agent reconnects with a growing pause (0.5 s up
to 30 s) and does a full pass, looking for foreign interfaces too, since events were
lost meanwhile.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import libvirt

from guestmeta.apply import ApplyError, Plan
from guestmeta.apply.changes import diff
from guestmeta.apply.edit import plan_attach
from guestmeta.libvirt import adopt, events
from guestmeta.libvirt.connection import (
    LibvirtUnreachable,
    lookup,
    open_connection,
    reason,
    start_event_loop,
    uri_or_default,
)
from guestmeta.libvirt.interfaces import interfaces
from guestmeta.libvirt.metadata import InstanceMetadata
from guestmeta.libvirt.reconcile import (
    ConnectionLost,
    Outcome,
    PassReport,
    full_pass,
    managed,
    sync_safely,
    wanted,
)
from guestmeta.model import Topology

if TYPE_CHECKING:  # the store (SQLAlchemy) loads only when a command opens it
    from guestmeta.store import Store

log = logging.getLogger("guestmeta.agent")
BACKOFF_START = 0.5
BACKOFF_MAX = 30.0
STORE_WAIT = 1.0  # seconds per wait on the store, so a stop is noticed


@dataclass
class _Work:
    """What the agent owes: domains to check (with why), a full pass, a store reload."""

    domains: dict[str, tuple[str, bool]] = field(default_factory=dict)  # name -> (why, adopt)
    full: str | None = None
    adopt_all: bool = False
    revision: int = -1  # newest store revision seen by the watcher

    def empty(self, loaded: int) -> bool:
        return not self.domains and self.full is None and self.revision <= loaded


def attach_ports(current: Topology, port_ids: Iterable[str], server_id: str) -> Plan:
    """One store change that attaches several ports to a server."""
    topology = current
    for port_id in port_ids:
        topology = plan_attach(topology, port_id, server_id).topology
    return Plan(topology, diff(current, topology))


class Agent:
    def __init__(
        self,
        store: Store,
        *,
        uri: str | None = None,
        host: str | None = None,
        interval: float = 60.0,
        backoff_max: float = BACKOFF_MAX,
    ) -> None:
        self.store = store
        self.uri = uri_or_default(uri)
        self.host = host or socket.gethostname()
        self.interval = interval
        self.backoff_max = backoff_max
        self.own = events.OwnWrites()
        self.topology = Topology()
        self.revision = -1
        self.wants: dict[str, InstanceMetadata] = {}
        self.connects = 0  # how many times a connection was made (tests watch it)
        self._cond = threading.Condition()
        self._work = _Work()
        self._conn: Any = None
        self._callbacks: list[int] = []
        self._lost = False

    # -- the store -------------------------------------------------------------------

    def reload(self) -> list[str]:
        """Load the store; return the domains whose desired element changed."""
        revision = self.store.revision()  # before loading: never claim a newer one
        topology = self.store.load()
        wants = wanted(topology, self.host)
        changed = [name for name, want in wants.items() if self.wants.get(name) != want]
        self.topology, self.revision, self.wants = topology, revision, wants
        return changed

    def _watch_store(self, stop: threading.Event) -> None:
        seen = -1
        pause = BACKOFF_START
        while not stop.is_set():
            try:
                current = self.store.wait_for_revision(seen, STORE_WAIT)
            except Exception as exc:  # a database restart must not end the agent
                log.warning("store: %s; retrying in %.1f s", " ".join(str(exc).split()), pause)
                stop.wait(pause)
                pause = min(pause * 2, self.backoff_max)
                continue
            pause = BACKOFF_START
            if current > seen:
                seen = current
                with self._cond:
                    self._work.revision = max(self._work.revision, current)
                    self._cond.notify()

    # -- requests from threads and callbacks ----------------------------------------

    def request(self, name: str, why: str, adopt_ifaces: bool = False) -> None:
        with self._cond:
            old = self._work.domains.get(name)
            self._work.domains[name] = (why, adopt_ifaces or (old is not None and old[1]))
            self._cond.notify()

    def request_full(self, why: str, adopt_ifaces: bool = False) -> None:
        with self._cond:
            self._work.full = why
            self._work.adopt_all |= adopt_ifaces
            self._cond.notify()

    def _connection_closed(self, _conn: Any, why: int, _opaque: Any) -> None:
        with self._cond:
            self._lost = True
            self._cond.notify()

    # -- libvirt ---------------------------------------------------------------------

    def _connect(self) -> None:
        self._lost = False  # first: a close during the registrations below must count
        conn = open_connection(self.uri, keepalive=True)
        # Drivers without a daemon (test:///default) have no close callback: never lost.
        with contextlib.suppress(libvirt.libvirtError):
            conn.registerCloseCallback(self._connection_closed, None)
        # Events owed by writes on the old connection will never come.
        self.own = events.OwnWrites()
        try:
            self._callbacks = events.register(conn, self.request, self.own)
        except libvirt.libvirtError as exc:
            self._conn = conn
            self._disconnect()
            raise LibvirtUnreachable(f"lost {self.uri} while connecting: {reason(exc)}") from exc
        self._conn = conn
        self.connects += 1
        log.info("connected to %s as host %s", self.uri, self.host)

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        events.unregister(conn, self._callbacks)
        self._callbacks = []
        for call in (conn.unregisterCloseCallback, conn.close):
            with contextlib.suppress(libvirt.libvirtError):
                call()

    def _log(self, outcome: Outcome, why: str) -> None:
        if outcome.written:
            log.info(
                "%s: wrote %s metadata (%s): %s",
                outcome.domain,
                "+".join(outcome.written),
                why,
                "; ".join(outcome.changes),
            )
        elif outcome.error is not None:
            log.error("%s: cannot update metadata (%s): %s", outcome.domain, why, outcome.error)
        elif outcome.vanished:
            log.info("%s: gone before it could be checked (%s)", outcome.domain, why)
        else:
            log.debug("%s: up to date (%s)", outcome.domain, why)

    def _sync_one(self, name: str, why: str) -> Outcome | None:
        want = self.wants.get(name)
        if want is None:
            log.debug("%s: not a server of host %s; left alone (%s)", name, self.host, why)
            return None
        try:
            dom = lookup(self._conn, name)
        except libvirt.libvirtError as exc:
            raise ConnectionLost(reason(exc)) from exc
        if dom is None:
            log.debug("%s: no such domain (%s)", name, why)
            return None
        outcome = sync_safely(dom, want, before_write=self.own.expect, write_failed=self.own.cancel)
        self._log(outcome, why)
        return outcome

    def _full_pass(self, why: str) -> PassReport:
        report = full_pass(
            self._conn,
            self.wants,
            before_write=self.own.expect,
            write_failed=self.own.cancel,
            on_outcome=lambda outcome: self._log(outcome, why),
        )
        quiet = why == "periodic pass" and not report.written and not report.failed
        log.log(logging.DEBUG if quiet else logging.INFO, "%s: %s", why, report.summary())
        return report

    def _adopt(self, names: Iterable[str]) -> None:
        """Attach in the store the free ports whose MACs someone plugged into our domains."""
        by_domain = managed(self.topology, self.host)
        index = adopt.MacIndex.of(self.topology)
        found: dict[str, list[str]] = {}
        for name in names:
            server_id = by_domain.get(name)
            if server_id is None:
                continue
            macs = self._macs(name)
            if not macs:
                continue
            adoption = adopt.plan(self.topology, server_id, macs, index)
            for line in adoption.refused:
                log.warning("%s: foreign interface left alone: %s", name, line)
            if adoption.attach:
                found[server_id] = adoption.attach
        for server_id, port_ids in found.items():
            name = self.topology.servers[server_id].domain_name
            try:
                plan = functools.partial(attach_ports, port_ids=port_ids, server_id=server_id)
                self.store.change(plan)
            except ApplyError as exc:
                log.warning("%s: cannot adopt ports %s: %s", name, ", ".join(port_ids), exc)
                continue
            for port_id in port_ids:
                log.info("%s: adopted port %s (its interface was plugged by hand)", name, port_id)
        if found:
            for name in self.reload():
                self.request(name, "ports adopted")

    def _macs(self, name: str) -> list[str]:
        try:
            dom = lookup(self._conn, name)
            if dom is None:
                return []
            xmls = [dom.XMLDesc(0)]
            if dom.isActive() and dom.isPersistent():
                xmls.append(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        except libvirt.libvirtError as exc:
            log.debug("%s: cannot read its interfaces: %s", name, reason(exc))
            return []
        return [iface.mac for xml in xmls for iface in interfaces(xml)]

    # -- running ---------------------------------------------------------------------

    def run_once(self) -> PassReport:
        """One full pass (foreign interfaces included) on a connection of its own."""
        self.reload()
        self._connect()
        try:
            self._adopt(self.wants)
            return self._full_pass("one pass")
        finally:
            self._disconnect()

    def _take(self, timeout: float) -> _Work:
        with self._cond:
            if self._work.empty(self.revision) and not self._lost:
                self._cond.wait(timeout)
            work, self._work = self._work, _Work(revision=self._work.revision)
            return work

    def _handle(self, work: _Work) -> None:
        if work.revision > self.revision:
            changed = self.reload()
            if work.full is None:
                for name in changed:
                    work.domains.setdefault(name, (f"store revision {self.revision}", False))
        if work.adopt_all:  # every managed domain, the named ones included
            self._adopt(self.wants)
        else:
            adopt_names = [name for name, (_, wants) in work.domains.items() if wants]
            if adopt_names:
                self._adopt(adopt_names)
        if work.full is not None:
            report = self._full_pass(work.full)
            if report.failed:
                log.warning("%d domain(s) failed; the next pass tries again", len(report.failed))
            return
        for name, (why, _) in work.domains.items():
            self._sync_one(name, why)

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set; never returns early because of libvirt or the store."""
        start_event_loop()
        watcher = threading.Thread(
            target=self._watch_store, args=(stop,), name="guestmeta-store", daemon=True
        )
        watcher.start()
        pause = trouble = BACKOFF_START
        next_full = 0.0
        try:
            # Know the store before the first pass, or that pass would find nothing to do.
            self.reload()
        except Exception as exc:  # the watcher brings the revision once the store answers
            log.error("cannot load the store yet: %s", exc)
        try:
            while not stop.is_set():
                if self._conn is None:
                    try:
                        self._connect()
                    except LibvirtUnreachable as exc:
                        log.warning("%s; retrying in %.1f s", exc, pause)
                        stop.wait(pause)
                        pause = min(pause * 2, self.backoff_max)
                        continue
                    pause = BACKOFF_START
                    self.request_full("connected" if self.connects == 1 else "reconnected", True)
                now = time.monotonic()
                if now >= next_full:
                    with self._cond:
                        self._work.full = self._work.full or "periodic pass"
                    next_full = now + self.interval
                work = self._take(min(1.0, max(0.0, next_full - time.monotonic())))
                if self._lost:
                    self._requeue(work)
                    log.warning("lost the connection to %s; reconnecting", self.uri)
                    self._disconnect()
                    continue
                try:
                    self._handle(work)
                    trouble = BACKOFF_START
                except ConnectionLost as exc:
                    self._requeue(work)
                    log.warning("lost the connection to %s (%s); reconnecting", self.uri, exc)
                    self._disconnect()
                except Exception as exc:  # the store down, or anything else: wait, go on
                    self._requeue(work)
                    log.error("%s; trying again in %.1f s", exc, trouble)
                    stop.wait(trouble)
                    trouble = min(trouble * 2, self.backoff_max)
        finally:
            self._disconnect()
            watcher.join(timeout=STORE_WAIT + 1)

    def _requeue(self, work: _Work) -> None:
        """Keep what was owed: the pass after reconnecting covers it anyway."""
        with self._cond:
            self._work.revision = max(self._work.revision, work.revision)
            self._work.full = self._work.full or work.full
            self._work.adopt_all |= work.adopt_all
            for name, item in work.domains.items():
                self._work.domains.setdefault(name, item)
