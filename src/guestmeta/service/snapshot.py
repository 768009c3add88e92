"""What the service answers from: every server's files at one store revision.

A :class:`Snapshot` is never changed once published. The :class:`Follower` thread waits
for the store's revision to move (LISTEN/NOTIFY on PostgreSQL, a short poll on SQLite),
builds the next snapshot beside the current one (only the servers a change touched are
built again; with a host, it follows that host's feed and holds that host's servers
only) and publishes it with one reference assignment, so a request sees either the
old snapshot or the new one, never a mix. When the store cannot be read, the last good
snapshot keeps serving and the follower retries.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from guestmeta.documents import DeviceAddress, DocumentOptions
from guestmeta.model import Topology
from guestmeta.model.affected import affected_servers
from guestmeta.model.changes import diff
from guestmeta.service.files import Reply, ServerFiles, build_files
from guestmeta.store import Store
from guestmeta.store.closure import HostCopy
from guestmeta.store.feed import FeedWatch
from guestmeta.store.store import RevisionWatch

log = logging.getLogger(__name__)
RETRY_MAX = 5.0


@dataclass(frozen=True)
class Snapshot:
    revision: int
    topology: Topology
    files: dict[str, ServerFiles]
    # (network id, address) -> server id; and address -> server ids on any network.
    by_network_address: dict[tuple[str, str], str]
    by_address: dict[str, tuple[str, ...]]
    by_name: dict[str, str]
    nics: dict[str, DeviceAddress] = field(default_factory=dict)  # by MAC
    # A listener's ``network`` (id, or a name no other network has) -> network id.
    network_ids: dict[str, str] = field(default_factory=dict)
    built_at: float = field(default_factory=time.monotonic)

    def server_for(self, ident: str) -> str | None:
        """A server named by id or by name (channels in the settings may use either)."""
        if ident in self.files:
            return ident
        return self.by_name.get(ident)


def _addresses(topology: Topology) -> tuple[dict[tuple[str, str], str], dict[str, tuple[str, ...]]]:
    by_network: dict[tuple[str, str], str] = {}
    anywhere: dict[str, list[str]] = {}
    for network_id, _subnet, address, _port, server_id in topology.index.address_rows():
        if not server_id or server_id not in topology.servers:
            continue
        by_network[(network_id, address)] = server_id
        owners = anywhere.setdefault(address, [])
        if server_id not in owners:
            owners.append(server_id)
    return by_network, {address: tuple(owners) for address, owners in anywhere.items()}


def build_snapshot(
    topology: Topology,
    revision: int,
    options: DocumentOptions,
    previous: Snapshot | None = None,
    nic_addresses: dict[str, tuple[str, str]] | None = None,
) -> Snapshot:
    """The snapshot of ``topology``, reusing ``previous``'s files for untouched servers.

    ``nic_addresses`` (MAC -> (bus, address), as host agents reported them) feed the
    ``devices`` of meta_data.json; a server whose NICs moved is built again.
    """
    nics = {mac: DeviceAddress(bus, at) for mac, (bus, at) in (nic_addresses or {}).items()}
    shared: dict[tuple[str, bytes], Reply] = {}
    if previous is None:
        rebuild = set(topology.servers)
    else:
        rebuild = affected_servers(
            previous.topology, topology, diff(previous.topology, topology)
        ) | (set(topology.servers) - set(previous.files))
        moved = {
            m for m in nics.keys() | previous.nics.keys() if nics.get(m) != previous.nics.get(m)
        }
        for mac in moved:
            for port_id in topology.index.ports_by_mac(mac):
                server_id = topology.index.server_of_port(port_id)
                if server_id in topology.servers:
                    rebuild.add(server_id)
    files: dict[str, ServerFiles] = {}
    for server_id in topology.servers:
        if server_id in rebuild or previous is None:
            files[server_id] = build_files(topology, server_id, options, shared, nics)
        else:
            files[server_id] = previous.files[server_id]
    by_network, anywhere = _addresses(topology)
    names: dict[str, str] = {}
    for server in topology.servers.values():
        names.setdefault(server.name, server.id)
        names.setdefault(server.domain_name, server.id)
    return Snapshot(
        revision, topology, files, by_network, anywhere, names, nics, _network_ids(topology)
    )


def _network_ids(topology: Topology) -> dict[str, str]:
    """Network ids by id and by unique name, so a request never scans the networks."""
    by_name: dict[str, list[str]] = {}
    for network in topology.networks.values():
        by_name.setdefault(network.name, []).append(network.id)
    ids = {name: found[0] for name, found in by_name.items() if len(found) == 1}
    ids.update({network_id: network_id for network_id in topology.networks})
    return ids


class Follower:
    """Keeps :attr:`current` at the store's latest revision, in a thread of its own."""

    def __init__(
        self,
        store: Store,
        options: DocumentOptions,
        *,
        interval: float = 0.25,
        on_publish: Callable[[Snapshot], None] | None = None,
        on_failure: Callable[[], None] | None = None,
        host: str | None = None,
        role: str = "serve",
    ) -> None:
        self.store = store
        self.host = host
        self.role = role  # the name of its row in the host's reports
        self.copy: HostCopy | None = None
        self.watch: FeedWatch | None = None
        self.options = options
        self.interval = interval
        self.on_publish = on_publish
        self.on_failure = on_failure
        self.current: Snapshot | None = None
        self.failures = 0
        self.last_error = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self, at_least: int = -1) -> bool:
        """Build and publish a new snapshot if the revision moved; True if it did.

        ``at_least``: the feed revision the watch reported, which a replica must have
        replayed before the host's copy is read there."""
        if self.host is None:
            revision, topology, nic_addresses = self.store.load_at()
            if self.current is not None and revision == self.current.revision:
                return False
        else:
            old = self.copy
            copy = self.store.follow_host(self.host, old, at_least)
            self.copy = copy
            if self.watch is not None:
                self.watch.applied = copy.revision
            if old is not None and copy.closures is old.closures:
                return False  # nothing of this host's changed
            revision, topology, nic_addresses = copy.revision, copy.topology(), copy.nic_addresses()
        snapshot = build_snapshot(topology, revision, self.options, self.current, nic_addresses)
        self.current = snapshot
        if self.on_publish is not None:
            self.on_publish(snapshot)
        return True

    def start(self) -> None:
        """The first snapshot is built before returning, so the service never answers empty."""
        self._first()
        self._thread = threading.Thread(target=self._run, name="guestmeta-follower", daemon=True)
        self._thread.start()

    def _first(self) -> None:
        delay = 0.1
        while not self._stop.is_set():
            try:
                self.refresh()
                return
            except Exception as exc:  # the store may not be up yet: keep trying
                self._failed(exc)
                self._stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX)

    def _run(self) -> None:
        delay = self.interval
        watch: FeedWatch | RevisionWatch
        if self.host is None:
            watch = self.store.watch()
        else:
            watch = self.watch = self.store.feed_watch(self.host, self.role)
            watch.applied = self.copy.revision if self.copy else -1
        stale = False  # a failure since the last snapshot: read again, whatever the watch says
        while not self._stop.is_set():
            try:
                current = self.current.revision if self.current else -1
                if self.copy is not None:  # the feed's revisions are the copy's
                    current = self.copy.revision
                latest = watch.wait(current, self.interval)
                if latest > current or stale:
                    self.refresh(latest)
                stale = False
                delay = self.interval
            except Exception as exc:  # keep the last good snapshot serving
                self._failed(exc)
                watch.close()
                stale = True
                self._stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX)
        watch.close()

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        if self.watch is not None:
            self.watch.failures.add(str(exc))
        if self.on_failure is not None:
            self.on_failure()
        message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if message != self.last_error:
            log.warning("cannot read the store, serving revision %s: %s", self._rev(), message)
        self.last_error = message

    def _rev(self) -> str:
        return str(self.current.revision) if self.current else "none"

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
