"""The host agent: keeps every local domain's metadata and NICs equal to the store.

Three things wake it: a new store revision (a thread blocks on the store's
notification), a libvirt event (device added or removed, domain defined or started,
our element changed by someone else) and a timer for the periodic full pass that
catches anything missed. All work then happens on one thread, so libvirt sees one
writer and the log reads in order.

On a new revision only the domains whose desired element changed are looked at, so a
store change reaches the domain XML in milliseconds even on a host with a thousand
guests. A domain that lost a port in the store has its NICs checked first: the NIC of
a port the store detached is unplugged (after the guest lets go, as ``port detach``
does) before the element stops listing it, and while the guest holds on to it the
element keeps listing it, so the next pass tries again. A domain that is no longer a
server of this host loses our element (other applications' metadata stays).

When libvirtd goes away the agent reconnects with a growing pause and does a full pass,
checking every domain's NICs too, since events were lost meanwhile.
"""

from __future__ import annotations

import functools
import logging
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import libvirt

from guestmeta.apply import ApplyError
from guestmeta.apply.edit import plan_attach
from guestmeta.domainxml import InstanceMetadata, MetadataError, PortIPs
from guestmeta.host import marks, nics
from guestmeta.host.wanted import managed, wanted
from guestmeta.libvirt import events, hotplug
from guestmeta.libvirt.connection import is_no_domain, lookup, reason
from guestmeta.libvirt.domain import CONFIG, LIVE, affected, load
from guestmeta.libvirt.interfaces import interfaces
from guestmeta.libvirt.reconcile import (
    ConnectionLost,
    Outcome,
    PassReport,
    full_pass,
    sync_safely,
)
from guestmeta.libvirt.session import BACKOFF_MAX, BACKOFF_START, Session
from guestmeta.model import Plan, Topology, TopologyIndex

if TYPE_CHECKING:  # the store (SQLAlchemy) loads only when a command opens it
    from guestmeta.host.drives import DriveKeeper
    from guestmeta.store import Store
    from guestmeta.store.closure import HostCopy

log = logging.getLogger("guestmeta.agent")
STORE_WAIT = 1.0  # seconds per wait on the store, so a stop is noticed
UNPLUG_TIMEOUT = 10.0  # seconds a guest gets to release a NIC before the next pass retries


@dataclass
class _Work:
    """What the agent owes: domains to check (with why), a full pass, a store reload."""

    domains: dict[str, tuple[str, bool]] = field(default_factory=dict)  # name -> (why, NICs?)
    full: str | None = None
    nics_all: bool = False
    revision: int = -1  # newest store revision seen by the watcher

    def empty(self, loaded: int) -> bool:
        return not self.domains and self.full is None and self.revision <= loaded

    def add(self, name: str, why: str, check_nics: bool) -> None:
        old = self.domains.get(name)
        self.domains[name] = (old[0] if old else why, check_nics or (old is not None and old[1]))


def attach_ports(current: Topology, port_ids: Iterable[str], server_id: str) -> Plan:
    """One store change that attaches several ports to a server."""
    topology = current
    for port_id in port_ids:
        topology = plan_attach(topology, port_id, server_id).topology
    return Plan.between(current, topology)


class Agent:
    def __init__(
        self,
        store: Store,
        *,
        uri: str | None = None,
        host: str | None = None,
        interval: float = 60.0,
        backoff_max: float = BACKOFF_MAX,
        unplug_timeout: float = UNPLUG_TIMEOUT,
        drives: DriveKeeper | None = None,
    ) -> None:
        self.store = store
        self.drives = drives
        self.host = host or socket.gethostname()
        self.interval = interval
        self.backoff_max = backoff_max
        self.unplug_timeout = unplug_timeout
        self.own = events.OwnWrites()
        self.topology = Topology()
        self.revision = -1
        self.wants: dict[str, InstanceMetadata] = {}
        self.by_domain: dict[str, str] = {}
        # Ports a guest still holds after the store detached them: kept in its element
        # until the NIC is gone. Domain name -> port id -> what the element said.
        self.pending: dict[str, dict[str, PortIPs]] = {}
        # Domains that stopped being servers of this host: their element goes.
        self.orphans: set[str] = set()
        self.passes = 0  # full passes done (a pass after connecting follows the NIC checks)
        self.buses: dict[str, tuple[str, str]] = {}  # MAC -> (bus, address) seen in XML
        self.reported: dict[str, dict[str, tuple[str, str]]] = {}  # server -> sent to store
        # Drives that could not be kept: tried again after a growing pause (see _retry_drives).
        self.drives_owed: set[str] = set()
        self._drive_pause = BACKOFF_START
        self._drive_due = 0.0
        self.session = Session(
            uri, register=self._register, on_lost=self._wake, backoff_max=backoff_max
        )
        self.copy: HostCopy | None = None
        self.feed = store.feed_watch(self.host, "agent")
        self.failures = self.feed.failures
        self._cond = threading.Condition()
        self._work = _Work()

    @property
    def uri(self) -> str:
        return self.session.uri

    @property
    def connects(self) -> int:
        return self.session.connects

    @property
    def _conn(self) -> Any:
        return self.session.conn

    # -- the store -------------------------------------------------------------------

    def reload(self, at_least: int = -1) -> tuple[list[str], list[str]]:
        """Catch up with this host's feed (the first time: read its servers); return the
        domains whose desired element changed, and those of them that lost a port (their
        NICs are checked before the element is written)."""
        before = self.copy
        copy = self.store.follow_host(self.host, before, at_least)
        self.copy = copy
        self.feed.applied = copy.revision
        if before is not None and copy.closures is before.closures:
            self.revision = copy.revision
            return [], []
        topology, revision = copy.topology(), copy.revision
        by_domain = managed(topology, self.host)
        # Only the servers the feed named are built again; the others keep their element.
        fresh = {
            name: sid
            for name, sid in by_domain.items()
            if name not in self.wants
            or before is None
            or before.closures.get(sid) is not copy.closures[sid]
        }
        wants = {name: self.wants[name] for name in by_domain if name not in fresh}
        wants.update(wanted(topology, self.host, fresh))
        changed, lost_ports = [], []
        for name in fresh:
            old, want = self.wants.get(name), wants[name]
            if old == want:
                continue
            changed.append(name)
            if old is not None and {p.uuid for p in old.ports} - {p.uuid for p in want.ports}:
                lost_ports.append(name)
        self.orphans |= self.wants.keys() - wants.keys()
        self.orphans -= wants.keys()
        self.topology, self.revision, self.wants = topology, revision, wants
        self.by_domain = by_domain
        return changed, lost_ports

    def _watch_store(self, stop: threading.Event) -> None:
        """Wait on this host's feed, and report to the store on the way (one connection)."""
        seen = -1
        pause = BACKOFF_START
        while not stop.is_set():
            try:
                current = self.feed.wait(max(seen, self.revision), STORE_WAIT)
            except Exception as exc:  # a database restart must not end the agent
                self.feed.close()
                self.failures.add(f"store: {exc}")
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

    def request(self, name: str, why: str, check_nics: bool = False) -> None:
        with self._cond:
            self._work.add(name, why, check_nics)
            self._cond.notify()

    def request_full(self, why: str, check_nics: bool = False) -> None:
        with self._cond:
            self._work.full = why
            self._work.nics_all |= check_nics
            self._cond.notify()

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify()

    # -- libvirt ---------------------------------------------------------------------

    def _register(self, conn: Any) -> list[int]:
        # Events owed by writes on the old connection will never come.
        self.own = events.OwnWrites()
        return events.register(conn, self.request, self.own)

    def _connect(self) -> None:
        self.session.connect()
        log.info("connected to %s as host %s", self.uri, self.host)

    def _disconnect(self) -> None:
        self.session.close()

    def _done(self, outcome: Outcome, why: str) -> None:
        """Log what a sync did, and mark a domain as ours (``domainxml.marker``) when we
        wrote its first element. Domains written before are marked at every (re)connect
        (``marks.ensure``), so an update costs no second call."""
        self._log(outcome, why)
        if outcome.written and "element missing" in outcome.changes:
            flags = (LIVE if "live" in outcome.written else 0) | (
                CONFIG if "config" in outcome.written else 0
            )
            dom = self._lookup(outcome.domain)
            if dom is not None:
                self._mark(dom, flags)

    def _mark(self, dom: Any, flags: int) -> None:
        marks.mark(dom, self.host, flags)

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

    def _lookup(self, name: str) -> Any | None:
        try:
            return lookup(self._conn, name)
        except libvirt.libvirtError as exc:
            raise ConnectionLost(reason(exc)) from exc

    def want(self, name: str) -> InstanceMetadata | None:
        """The element ``name`` should carry now: the store's, plus ports a guest holds."""
        want = self.wants.get(name)
        held = self.pending.get(name)
        if want is None or not held:
            return want
        have = {p.uuid for p in want.ports}
        return replace(want, ports=want.ports + tuple(p for u, p in held.items() if u not in have))

    def _wants(self) -> Mapping[str, InstanceMetadata]:
        if not any(self.pending.values()):
            return self.wants
        return {name: self.want(name) or want for name, want in self.wants.items()}

    def _sync_one(self, name: str, why: str) -> Outcome | None:
        want = self.want(name)
        if want is None:
            log.debug("%s: not a server of host %s; left alone (%s)", name, self.host, why)
            return None
        dom = self._lookup(name)
        if dom is None:
            log.debug("%s: no such domain (%s)", name, why)
            return None
        outcome = sync_safely(dom, want, before_write=self.own.expect, write_failed=self.own.cancel)
        self._done(outcome, why)
        return outcome

    def _full_pass(self, why: str) -> PassReport:
        report = full_pass(
            self._conn,
            self._wants(),
            before_write=self.own.expect,
            write_failed=self.own.cancel,
            on_outcome=lambda outcome: self._done(outcome, why),
        )
        self.passes += 1
        quiet = why == "periodic pass" and not report.written and not report.failed
        log.log(logging.DEBUG if quiet else logging.INFO, "%s: %s", why, report.summary())
        return report

    # -- orphans: domains that are no longer a server's --------------------------------

    def _find_orphans(self) -> None:
        try:
            self.orphans |= marks.orphans(self._conn, self.host, self.wants)
        except libvirt.libvirtError as exc:
            raise ConnectionLost(reason(exc)) from exc

    def _clear_orphans(self) -> None:
        for name in sorted(self.orphans):
            dom = self._lookup(name)
            if dom is None or marks.clear(dom, self.host, self.own.expect, self.own.cancel):
                self.orphans.discard(name)

    # -- NICs: adopt the ones plugged by hand, unplug the ones the store detached -------

    def _check_nics(self, names: Iterable[str]) -> None:
        seen: list[tuple[str, str, Any, list[str], dict[str, PortIPs]]] = []
        for name in names:
            server_id = self.by_domain.get(name)
            if server_id is None:
                continue
            dom = self._lookup(name)
            if dom is None:
                self.pending.pop(name, None)
                continue
            macs, listed = self._nics_of(dom, name)
            marks.ensure(dom, self.host)
            seen.append((name, server_id, dom, macs, listed))
        index = self._index_for(mac for *_, macs, _ in seen for mac in macs)
        found: dict[str, list[str]] = {}
        for name, server_id, dom, macs, listed in seen:
            plan = nics.plan(index, server_id, macs, listed)
            for line in plan.refused:
                log.warning("%s: foreign interface left alone: %s", name, line)
            held: dict[str, PortIPs] = {}
            for mac, port_ids in plan.unplug.items():
                if not self._unplug(dom, name, mac, port_ids):
                    held.update({p: listed[p] for p in port_ids})
            if held:
                self.pending[name] = held
            else:
                self.pending.pop(name, None)
            if plan.attach:
                found[server_id] = plan.attach
            self._report_buses(server_id, macs)
        if found:
            self._adopt(found)

    def _index_for(self, macs: Iterable[str]) -> TopologyIndex:
        """The index of this host's copy, with the store's ports for MACs it does not
        know: a NIC plugged by hand may be a free port (to adopt) or another server's."""
        index = self.topology.index
        unknown = sorted({mac for mac in macs if not index.ports_by_mac(mac)})
        if not unknown:
            return index
        others = self.store.ports_by_mac(unknown)
        if not others:
            return index
        wider = self.topology.copy()
        wider.ports.update((port.id, port) for port in others)
        return wider.index

    def _report_buses(self, server_id: str, macs: list[str]) -> None:
        """Tell the store where the server's NICs sit, when that changed (meta_data.json's
        ``devices`` needs it, and only libvirt knows it)."""
        ours = {p.mac_address.lower() for p in self.topology.index.ports(server_id)}
        found = {mac: self.buses[mac] for mac in macs if mac in ours and mac in self.buses}
        known = self.reported.get(server_id)
        closure = self.copy.closures.get(server_id) if self.copy is not None else None
        if known is None and closure is not None:  # what the store has: no write to repeat it
            known = {mac: (bus, at) for mac, bus, at in closure.nics}
        if known == found:
            self.reported[server_id] = found
            return
        try:
            self.store.set_nic_addresses(server_id, found)
        except Exception as exc:  # the addresses wait for the next check, the rest goes on
            log.warning("cannot record the NIC addresses of %s: %s", server_id, exc)
            return
        self.reported[server_id] = found

    def _nics_of(self, dom: Any, name: str) -> tuple[list[str], dict[str, PortIPs]]:
        """The MACs of the domain's NICs (live and saved), and the ports its element lists.

        Where each NIC sits on its bus is kept in :attr:`buses` on the way (the live
        definition's answer wins: that is where the guest sees it).
        """
        macs: list[str] = []
        listed: dict[str, PortIPs] = {}
        try:
            flags = affected(dom)
            for flag in sorted(flags, key=lambda f: f != CONFIG):  # saved first, live last
                xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE if flag == CONFIG else 0)
                for iface in interfaces(xml):
                    macs.append(iface.mac)
                    if iface.bus is not None:
                        self.buses[iface.mac] = iface.bus
                try:
                    meta = load(dom, flag)
                except MetadataError:
                    meta = None
                for port in meta.ports if meta is not None else ():
                    listed.setdefault(port.uuid, port)
        except libvirt.libvirtError as exc:
            if not is_no_domain(exc) and not self.session.alive:
                raise ConnectionLost(reason(exc)) from exc
            log.debug("%s: cannot read its interfaces: %s", name, reason(exc))
        return macs, listed

    def _unplug(self, dom: Any, name: str, mac: str, port_ids: list[str]) -> bool:
        """Unplug a NIC whose port the store detached; False while the guest holds it."""
        ports = ", ".join(port_ids)
        try:
            where = hotplug.detach(self._conn, dom, mac, self.unplug_timeout)
        except hotplug.HotplugError as exc:
            log.warning("%s: port %s was detached in the store: %s", name, ports, exc)
            return False
        except libvirt.libvirtError as exc:
            if is_no_domain(exc):
                return True
            log.warning("%s: cannot unplug %s (port %s): %s", name, mac, ports, reason(exc))
            return False
        log.info(
            "%s: unplugged %s (%s), port %s was detached in the store",
            name,
            mac,
            "+".join(where) or "already gone",
            ports,
        )
        return True

    def _adopt(self, found: dict[str, list[str]]) -> None:
        """Attach in the store the free ports whose MACs someone plugged into our domains."""
        adopted = False
        for server_id, port_ids in found.items():
            name = self.topology.servers[server_id].domain_name
            try:
                plan = functools.partial(attach_ports, port_ids=port_ids, server_id=server_id)
                self.store.change(plan)
            except ApplyError as exc:
                log.warning("%s: cannot adopt ports %s: %s", name, ", ".join(port_ids), exc)
                continue
            adopted = True
            for port_id in port_ids:
                log.info("%s: adopted port %s (its interface was plugged by hand)", name, port_id)
        if adopted:
            for name in self.reload()[0]:
                self.request(name, "ports adopted")

    # -- config drives ----------------------------------------------------------------

    def _keep_drives(self, *, check: bool = False, names: Iterable[str] | None = None) -> None:
        """Rebuild the drives whose files changed and put them on their domains.

        A drive that fails is owed: :meth:`_retry_drives` tries it again after a pause
        that grows to ``backoff_max``, not at the next periodic pass.
        """
        if self.drives is None:
            return
        wanted = sorted(self.by_domain) if names is None else sorted(names)
        failed = self.drives.keep_all(
            self.topology, self.by_domain, wanted, self._lookup, check=check
        )
        self.drives_owed.difference_update(wanted)
        self.drives_owed.update(failed)
        if not failed:
            self._drive_pause = BACKOFF_START
            return
        self._drive_due = time.monotonic() + self._drive_pause
        name, why = next(iter(failed.items()))
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        self.failures.add(f"config drive of {name}{more}: {why}")
        log.warning(
            "config drive of %s: trying again in %.1f s", ", ".join(failed), self._drive_pause
        )
        self._drive_pause = min(self._drive_pause * 2, self.backoff_max)

    def _retry_drives(self) -> None:
        self.drives_owed &= self.by_domain.keys()  # a server gone from this host owes nothing
        if self.drives_owed and time.monotonic() >= self._drive_due:
            self._keep_drives(names=self.drives_owed)

    # -- running ---------------------------------------------------------------------

    def run_once(self) -> PassReport:
        """One full pass (NICs and orphans included) on a connection of its own."""
        self.reload()
        self._connect()
        try:
            self._find_orphans()
            self._clear_orphans()
            self._check_nics(self.wants)
            self._keep_drives(check=True)
            return self._full_pass("one pass")
        finally:
            self._disconnect()

    def _take(self, timeout: float) -> _Work:
        with self._cond:
            if self._work.empty(self.revision) and self.session.alive:
                self._cond.wait(timeout)
            work, self._work = self._work, _Work(revision=self._work.revision)
            return work

    def _handle(self, work: _Work) -> None:
        reloaded = work.revision > self.revision
        if reloaded:
            changed, lost_ports = self.reload(work.revision)
            why = f"store revision {self.revision}"
            for name in changed:
                if work.full is None or name in lost_ports:
                    work.add(name, why, name in lost_ports)
        if work.nics_all:  # (re)connected: every managed domain, and the marked others
            self._find_orphans()
        if self.orphans:
            self._clear_orphans()
        if work.nics_all:
            self._check_nics(self.wants)
        else:
            names = [name for name, (_, check) in work.domains.items() if check]
            if work.full is not None:
                names += [name for name in self.pending if name not in names]
            if names:
                self._check_nics(names)
        if work.full is not None or reloaded:
            self._keep_drives(check=work.full is not None)
        else:
            self._retry_drives()
        if work.full is not None:
            report = self._full_pass(work.full)
            if report.failed:
                self.failures.add(
                    f"{len(report.failed)} domain(s) failed: {report.failed[0].describe()}"
                )
                log.warning("%d domain(s) failed; the next pass tries again", len(report.failed))
            return
        for name, (why, _) in work.domains.items():
            self._sync_one(name, why)

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set; never returns early because of libvirt or the store."""
        watcher = threading.Thread(
            target=self._watch_store, args=(stop,), name="guestmeta-store", daemon=True
        )
        watcher.start()
        trouble = BACKOFF_START
        next_full = 0.0
        try:
            # Know the store before the first pass, or that pass would find nothing to do.
            self.reload()
        except Exception as exc:  # the watcher brings the revision once the store answers
            log.error("cannot load the store yet: %s", exc)
        try:
            while not stop.is_set():
                if self._conn is None:
                    if not self.session.connect_or_wait(stop):
                        continue
                    log.info("connected to %s as host %s", self.uri, self.host)
                    self.request_full("connected" if self.connects == 1 else "reconnected", True)
                now = time.monotonic()
                if now >= next_full:
                    with self._cond:
                        self._work.full = self._work.full or "periodic pass"
                    next_full = now + self.interval
                work = self._take(min(1.0, max(0.0, next_full - time.monotonic())))
                if self.session.lost:
                    self._requeue(work)
                    log.warning("lost the connection to %s; reconnecting", self.uri)
                    self._disconnect()
                    continue
                try:
                    self._handle(work)
                    trouble = BACKOFF_START
                except ConnectionLost as exc:
                    self._requeue(work)
                    self.failures.add(f"libvirt: {exc}")
                    log.warning("lost the connection to %s (%s); reconnecting", self.uri, exc)
                    self._disconnect()
                except Exception as exc:  # the store down, or anything else: wait, go on
                    self._requeue(work)
                    self.failures.add(str(exc))
                    log.error("%s; trying again in %.1f s", exc, trouble)
                    stop.wait(trouble)
                    trouble = min(trouble * 2, self.backoff_max)
        finally:
            self._disconnect()
            watcher.join(timeout=STORE_WAIT + 1)
            self.feed.close()

    def _requeue(self, work: _Work) -> None:
        """Keep what was owed: the pass after reconnecting covers it anyway."""
        with self._cond:
            self._work.revision = max(self._work.revision, work.revision)
            self._work.full = self._work.full or work.full
            self._work.nics_all |= work.nics_all
            for name, (why, check) in work.domains.items():
                self._work.add(name, why, check)


__all__ = ["Agent", "attach_ports"]
