"""An in-memory index of every domain's addresses, kept current by libvirt's events.

The exporter answers scrapes from this index, so a scrape reads no XML: exporters that
call ``XMLDesc`` for every domain on every scrape take seconds on large hosts. A full
pass at start and then periodically catches anything an event missed; after libvirtd
restarts, the index reconnects with backoff and does a full pass again.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import libvirt

from guestmeta.domainxml import MetadataError
from guestmeta.inventory.checks import checked_addresses
from guestmeta.inventory.connection import domain_states, read_domain, read_one
from guestmeta.inventory.rows import Domain, Failure
from guestmeta.libvirt.connection import is_no_domain, start_event_loop
from guestmeta.libvirt.session import Session

log = logging.getLogger(__name__)

_STATES = {
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "running",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "running",
    libvirt.VIR_DOMAIN_SHUTOFF: "shutoff",
    libvirt.VIR_DOMAIN_CRASHED: "other",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "other",
}
_FULL = "*"  # queue item: refresh everything
_EVENTS = (
    libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
    libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
    libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
    libvirt.VIR_DOMAIN_EVENT_ID_METADATA_CHANGE,
)


@dataclass
class Snapshot:
    """What a scrape sees: a consistent copy, taken under the index's lock."""

    host: str
    connected: bool
    domains: list[Domain]
    failures: list[Failure]
    read_errors_total: int
    events_total: int
    full_passes_total: int
    last_full_pass: float
    version: int


@dataclass
class _State:
    domains: dict[str, Domain] = field(default_factory=dict)  # by uuid
    failures: dict[str, Failure] = field(default_factory=dict)  # by uuid
    read_errors_total: int = 0
    events_total: int = 0
    full_passes_total: int = 0
    last_full_pass: float = 0.0
    version: int = 0


class Index:
    """Domains by UUID. ``start()`` runs it in background threads; ``stop()`` ends them."""

    def __init__(
        self,
        uri: str | None = None,
        full_pass_interval: float = 60.0,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.uri = uri
        self.full_pass_interval = full_pass_interval
        self.on_change = on_change
        self.host = socket.gethostname()
        self._state = _State()
        self._lock = threading.Lock()
        self._queue: queue.Queue[str] = queue.Queue()
        self._stop = threading.Event()
        self._session = Session(uri, register=self._register, on_lost=self._lost, read_only=True)
        self._threads: list[threading.Thread] = []

    # -- reading ---------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        with self._lock:
            s = self._state
            return Snapshot(
                host=self.host,
                connected=self._session.alive,
                domains=sorted(s.domains.values(), key=lambda d: d.name),
                failures=list(s.failures.values()),
                read_errors_total=s.read_errors_total,
                events_total=s.events_total,
                full_passes_total=s.full_passes_total,
                last_full_pass=s.last_full_pass,
                version=s.version,
            )

    @property
    def version(self) -> int:
        return self._state.version

    # -- updating --------------------------------------------------------------------

    def _changed(self) -> None:
        self._state.version += 1
        if self.on_change is not None:
            self.on_change()

    def full_pass(self) -> None:
        conn = self._session.conn
        if conn is None:
            return
        domains: dict[str, Domain] = {}
        failures: dict[str, Failure] = {}
        errors = 0
        for item in domain_states(conn):
            result = read_one(item)
            uuid = item[0].UUIDString()
            if isinstance(result, Domain):
                domains[uuid], bad = checked_addresses(result, result.name)
                if bad:  # listed without them, and reported (one failure per domain)
                    failures[uuid] = bad[0]
            elif result is not None:
                failures[uuid] = result
                errors += 1
        with self._lock:
            s = self._state
            s.domains, s.failures = domains, failures
            s.read_errors_total += errors
            s.full_passes_total += 1
            s.last_full_pass = time.time()
            self._changed()
        log.info("full pass: %d domains, %d unreadable", len(domains), len(failures))

    def refresh(self, uuid: str) -> None:
        """Re-read one domain; forget it if it is gone."""
        conn = self._session.conn
        if conn is None:
            return
        try:
            dom = conn.lookupByUUIDString(uuid)
            code, _reason = dom.state()
            domain: Domain | None = read_domain(dom, _STATES.get(code, "other"))
            failure = None
            if domain is not None:
                domain, bad = checked_addresses(domain, domain.name)
                failure = bad[0] if bad else None
        except MetadataError as exc:
            domain, failure = None, Failure(self._name(uuid), str(exc))
        except libvirt.libvirtError as exc:
            if not is_no_domain(exc):
                raise
            domain, failure = None, None
        with self._lock:
            s = self._state
            s.domains.pop(uuid, None)
            s.failures.pop(uuid, None)
            if domain is not None:
                s.domains[uuid] = domain
            if failure is not None:
                s.failures[uuid] = failure
                s.read_errors_total += 1
            self._changed()

    def _name(self, uuid: str) -> str:
        known = self._state.domains.get(uuid)
        return known.name if known is not None else uuid

    # -- events ----------------------------------------------------------------------

    def _event(self, _conn: Any, dom: Any, *_args: Any) -> None:
        self._state.events_total += 1
        self._queue.put(dom.UUIDString())

    def _register(self, conn: Any) -> list[int]:
        return [conn.domainEventRegisterAny(None, i, self._event, None) for i in _EVENTS]

    def _lost(self) -> None:
        log.warning("libvirt connection closed; reconnecting")
        self._queue.put(_FULL)  # wakes the worker, which reconnects

    def _work(self) -> None:
        next_full = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                if not self._session.alive:
                    if not self._session.connect_or_wait(self._stop):
                        with self._lock:
                            self._changed()  # the connected gauge changed
                        continue
                    self.host = self._session.conn.getHostname()
                    next_full = now
                if now >= next_full:
                    # Events queued so far are answered by the pass; those that come
                    # while it lists and reads are kept, as the pass may have missed them.
                    self._drain()
                    self.full_pass()
                    next_full = now + self.full_pass_interval
                    continue
                try:
                    item = self._queue.get(timeout=min(1.0, max(next_full - now, 0.01)))
                except queue.Empty:
                    continue
                if item == _FULL:
                    next_full = 0.0
                else:
                    self.refresh(item)
            except libvirt.libvirtError as exc:
                log.warning("libvirt call failed: %s", exc.get_error_message())
                self._session.close()

    def _drain(self) -> None:
        """Forget queued events: the full pass about to start answers them."""
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    def start(self) -> Index:
        start_event_loop()
        worker = threading.Thread(target=self._work, name="guestmeta-index", daemon=True)
        worker.start()
        self._threads.append(worker)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._session.close()
