"""The store: the source of truth, on SQLite or PostgreSQL.

Every change runs in one write-locked transaction that reads the current state,
computes the next one, writes only the difference and bumps the revision; it is
all or nothing. Readers wait for the next revision through LISTEN/NOTIFY on
PostgreSQL and by polling the revision on SQLite.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from guestmeta.model import KINDS, Change, InvalidItem, Plan, Server, Topology, noun
from guestmeta.model.affected import touched_servers
from guestmeta.model.errors import shown
from guestmeta.store import feed, schema
from guestmeta.store.closure import HostCopy, catch_up, read_host, select_items
from guestmeta.store.codec import DECODERS, chunks, decode_server, encode, row_json
from guestmeta.store.engine import WRITE, default_url, make_engine
from guestmeta.store.migrate import HEAD, MigrationError, current_revision, upgrade

CHANNEL = "guestmeta_revision"
POLL_INTERVAL = 0.05
REPLICA_WAIT = 1.0  # seconds a host's read waits for a replica to replay a change
log = logging.getLogger(__name__)
_REVISION = select(schema.state.c.value).where(schema.state.c.key == "revision")
_REVISION_SQL = "SELECT value FROM state WHERE key = 'revision'"


@dataclass(frozen=True)
class Result:
    """What a change did: the revision it made (or found) and the items it touched."""

    revision: int
    changes: list[Change]
    topology: Topology


def _row(kind: str, item: Any) -> dict[str, Any]:
    data = encode(item)
    if kind == "keypairs":
        return {"name": item.name, "data": data}
    row: dict[str, Any] = {"id": item.id, "data": data}
    if kind in ("networks", "subnets", "ports", "bonds", "servers"):
        row["name"] = item.name
    if kind == "subnets":
        row["network_id"] = item.network_id
    elif kind == "ports":
        row.update(
            network_id=item.network_id,
            mac_address=item.mac_address,
            device_id=item.device_id,
            seq=item.seq,
        )
    elif kind == "floatingips":
        row.update(floating_ip_address=item.floating_ip_address, port_id=item.port_id)
    elif kind == "servers":
        row.update(domain_name=item.domain_name, host=item.host)
    return row


def _address_rows(topology: Topology, port_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """The ``fixed_ips`` rows of the ports ``port_ids`` (those ``topology`` has)."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for network_id, subnet_id, address, port_id, server_id in topology.index.address_rows(port_ids):
        per_port = rows.setdefault(port_id, [])
        per_port.append(
            {
                "port_id": port_id,
                "position": len(per_port),
                "network_id": network_id,
                "subnet_id": subnet_id,
                "ip_address": address,
                "server_id": server_id,
            }
        )
    return rows


def _rows_to_check(
    old: Topology, new: Topology, changes: list[Change], touched: set[str]
) -> set[str]:
    """The ports whose address rows a change can alter: the ports it changed (with their
    trunks' sub-ports, before and after) and every port of the servers it touched (a
    server created or deleted changes whose its ports' addresses are)."""
    ports = {c.id for c in changes if c.kind == "ports"}
    for topology in (old, new):
        for port_id in list(ports):
            port = topology.ports.get(port_id)
            if port is not None and port.trunk is not None:
                ports.update(sub.port_id for sub in port.trunk.sub_ports)
        for server_id in touched:
            if server_id in topology.servers:
                ports.update(p.id for p in topology.index.all_ports(server_id))
    return ports


class StoreError(RuntimeError):
    """The store cannot be opened or brought to the current schema; one line, naming it."""


class Store:
    def __init__(
        self,
        url: str | None = None,
        *,
        engine: Engine | None = None,
        client: str | None = None,
        pooled: bool = True,
        replica: str | None = None,
    ) -> None:
        """``client`` and ``pooled``: see :func:`guestmeta.store.engine.make_engine`.
        ``replica``: a read replica of a PostgreSQL store, for a host's copy (see
        :meth:`read_host`); everything else, waiting included, stays on ``url``."""
        self.url = url or default_url()
        # The topology at a revision, as this process last read or wrote it: a writer that
        # makes one change after another (a control plane) finds the revision unmoved under
        # the write lock and skips reading the whole store again. Any writer bumps the
        # revision with every topology change, so an unmoved revision is this topology.
        self._cached: tuple[int, Topology] | None = None
        try:
            self.engine = engine or make_engine(self.url, client, pooled)
            self.replica = make_engine(replica, client, pooled) if replica else None
            self.is_postgres = self.engine.dialect.name == "postgresql"
            # A current schema is seen in a plain read: opening the store must not queue
            # behind a writer (SQLite's BEGIN IMMEDIATE waits for a long apply to end).
            with self._read() as conn:
                current = current_revision(conn) == HEAD
            if not current:
                with self._write() as conn:
                    if self.is_postgres:  # serialise concurrent first-time migrations
                        conn.execute(text("SELECT pg_advisory_xact_lock(7411)"))
                    upgrade(conn)
        except (SQLAlchemyError, OSError, MigrationError) as exc:
            raise StoreError(f"cannot open store {self.url}: {_reason(exc)}") from exc

    def close(self) -> None:
        self.engine.dispose()
        if self.replica is not None:
            self.replica.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions ------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(**{WRITE: True})
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def change(self, compute: Callable[[Topology], Plan]) -> Result:
        """Run ``compute`` on the current state under the write lock and store its result.

        ``compute`` raises to refuse; then nothing is written. With no difference the
        revision stays as it is. A database failure on the way (the server gone, the disk
        full) rolls the whole change back and is a StoreError of one line.
        """
        with self._failures("cannot write to"):
            return self._change(compute)

    def _change(self, compute: Callable[[Topology], Plan]) -> Result:
        with self._write() as conn:
            revision = self._lock_revision(conn)
            cached, self._cached = self._cached, None
            if cached is not None and cached[0] == revision:
                current = cached[1]
            else:
                current = self._load(conn)
            plan = compute(current)
            if not plan.changes:
                self._cached = (revision, current)
                return Result(revision, [], current)
            touched = touched_servers(current, plan.topology, plan.changes)
            self._write_changes(conn, current, plan.topology, plan.changes, touched)
            revision += 1
            self._bump(conn, revision)
            feed.record(conn, revision, feed.hosts_of(touched, current, plan.topology))
        self._cached = (revision, plan.topology)  # once committed
        return Result(revision, plan.changes, plan.topology)

    def preview(self, compute: Callable[[Topology], Plan]) -> Result:
        """What ``change`` would do, computed on the current state and never written.

        The revision is the current one: nothing moved it. ``compute`` raises to refuse.
        """
        with self._failures("cannot read"), self._read() as conn:
            revision = int(conn.execute(_REVISION).scalar_one())
            current = self._load(conn)
        plan = compute(current)
        return Result(revision, plan.changes, plan.topology)

    def _bump(self, conn: Connection, revision: int) -> None:
        """Set the revision and tell the watchers (on commit, with the rest)."""
        conn.execute(
            update(schema.state).where(schema.state.c.key == "revision").values(value=revision)
        )
        if self.is_postgres:
            conn.execute(text("SELECT pg_notify(:c, :r)"), {"c": CHANNEL, "r": str(revision)})

    def _lock_revision(self, conn: Connection) -> int:
        query = _REVISION
        if self.is_postgres:
            query = query.with_for_update()
        return int(conn.execute(query).scalar_one())

    def _write_changes(
        self,
        conn: Connection,
        old: Topology,
        new: Topology,
        changes: list[Change],
        touched: set[str],
    ) -> None:
        by_kind: dict[str, list[Change]] = {}
        for change in changes:
            by_kind.setdefault(change.kind, []).append(change)
        for kind, kind_changes in by_kind.items():
            table = schema.TABLES[kind]
            key = table.c.name if kind == "keypairs" else table.c.id
            gone = [c.id for c in kind_changes if c.action != "create"]
            for chunk in chunks(gone):
                conn.execute(delete(table).where(key.in_(chunk)))
            items = new.collection(kind)
            rows = [_row(kind, items[c.id]) for c in kind_changes if c.action != "delete"]
            if rows:
                conn.execute(insert(table), rows)
        deleted = [c.id for c in by_kind.get("servers", []) if c.action == "delete"]
        for chunk in chunks(deleted):  # a password and NIC addresses die with their server
            conn.execute(delete(schema.passwords).where(schema.passwords.c.server_id.in_(chunk)))
            conn.execute(
                delete(schema.nic_addresses).where(schema.nic_addresses.c.server_id.in_(chunk))
            )
        if {"ports", "servers"} & by_kind.keys():
            ports = _rows_to_check(old, new, changes, touched)
            before, after = _address_rows(old, ports), _address_rows(new, ports)
            stale = [p for p in before.keys() | after.keys() if before.get(p) != after.get(p)]
            for chunk in chunks(stale):
                conn.execute(delete(schema.fixed_ips).where(schema.fixed_ips.c.port_id.in_(chunk)))
            rows = [row for p in stale for row in after.get(p, [])]
            if rows:
                conn.execute(insert(schema.fixed_ips), rows)

    # -- passwords ---------------------------------------------------------------------

    def password(self, server_id: str) -> str | None:
        """What the server's guest posted, or None."""
        table = schema.passwords
        with self._read() as conn:
            query = select(table.c.password).where(table.c.server_id == server_id)
            return conn.execute(query).scalar_one_or_none()

    def set_password(self, server_id: str, password: str) -> bool:
        """Keep the first password a guest posts; False when one is already set (Nova: 409)."""
        table = schema.passwords
        with self._write() as conn:
            self._lock_revision(conn)  # serialises two first posts on PostgreSQL
            if conn.execute(
                select(table.c.server_id).where(table.c.server_id == server_id)
            ).first():
                return False
            conn.execute(insert(table).values(server_id=server_id, password=password))
            return True

    def clear_password(self, server_id: str) -> bool:
        """Forget the password so the guest may post a new one; False if none was set."""
        table = schema.passwords
        with self._write() as conn:
            result = conn.execute(delete(table).where(table.c.server_id == server_id))
            return bool(result.rowcount)

    # -- NIC addresses -----------------------------------------------------------------

    def nic_addresses(self) -> dict[str, tuple[str, str]]:
        """MAC -> (bus, address) of every NIC a host agent has reported."""
        with self._read() as conn:
            return self._nic_addresses(conn)

    def _nic_addresses(self, conn: Connection) -> dict[str, tuple[str, str]]:
        table = schema.nic_addresses
        rows = conn.execute(select(table.c.mac_address, table.c.bus, table.c.address))
        return {mac: (bus, address) for mac, bus, address in rows}

    def set_nic_addresses(self, server_id: str, addresses: dict[str, tuple[str, str]]) -> bool:
        """Replace the server's NIC addresses (MAC -> (bus, address)); True if they changed.

        A change moves the revision, so the metadata services follow it as any other.
        """
        table = schema.nic_addresses
        wanted = {mac.lower(): where for mac, where in addresses.items()}
        with self._write() as conn:
            revision = self._lock_revision(conn)
            query = select(table.c.mac_address, table.c.bus, table.c.address).where(
                table.c.server_id == server_id
            )
            current = {mac: (bus, address) for mac, bus, address in conn.execute(query)}
            if current == wanted:
                return False
            conn.execute(delete(table).where(table.c.server_id == server_id))
            for chunk in chunks(list(wanted)):  # a MAC moved from another server
                conn.execute(delete(table).where(table.c.mac_address.in_(chunk)))
            rows = [
                {"mac_address": mac, "server_id": server_id, "bus": bus, "address": address}
                for mac, (bus, address) in wanted.items()
            ]
            if rows:
                conn.execute(insert(table), rows)
            self._bump(conn, revision + 1)
            host = feed.host_of(conn, server_id)
            if host:
                feed.record(conn, revision + 1, {host: [server_id]})
            return True

    # -- reading -----------------------------------------------------------------------

    @contextmanager
    def _failures(self, doing: str) -> Iterator[None]:
        try:
            yield
        except (SQLAlchemyError, OSError) as exc:
            shown = make_url(self.url).render_as_string(hide_password=True)
            raise StoreError(f"{doing} store {shown}: {_reason(exc)}") from exc

    def load(self) -> Topology:
        with self._failures("cannot read"), self._read() as conn:
            return self._load(conn)

    def _load(self, conn: Connection) -> Topology:
        topology = Topology()
        for kind in KINDS:
            decode = DECODERS[kind]
            table = schema.TABLES[kind]
            items = topology.collection(kind)
            for (data,) in conn.execute(select(table.c.data)):
                try:
                    item = decode(data)
                except InvalidItem as exc:
                    # Written by an older guestmeta that allowed it (e.g. a 300-character
                    # name on SQLite): one line naming it rather than a traceback.
                    ident = shown(data.get("id") or data.get("name"))
                    raise StoreError(
                        f"stored {noun(kind)} {ident} breaks a rule this version enforces: {exc}"
                    ) from None
                items[item.name if kind == "keypairs" else item.id] = item
        return topology

    def revision(self) -> int:
        with self._failures("cannot read"), self._read() as conn:
            return int(conn.execute(_REVISION).scalar_one())

    def load_at(self) -> tuple[int, Topology, dict[str, tuple[str, str]]]:
        """The revision, the topology and the NIC addresses it names, read as one snapshot.

        PostgreSQL's default isolation lets two statements of one transaction see different
        commits, so this read asks for REPEATABLE READ there; SQLite's read transaction is
        a snapshot already.
        """
        with self.engine.connect() as conn:
            if self.is_postgres:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                revision = int(conn.execute(_REVISION).scalar_one())
                return revision, self._load(conn), self._nic_addresses(conn)

    # -- one host's view: the per-host feed --------------------------------------------

    @contextmanager
    def _snapshot(self, engine: Engine | None = None) -> Iterator[Connection]:
        """A read transaction that sees one commit throughout (REPEATABLE READ on
        PostgreSQL, whose default lets two statements see different commits)."""
        with (engine or self.engine).connect() as conn:
            if self.is_postgres:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def read_host(self, host: str, at_least: int = -1) -> HostCopy:
        """Every server on ``host`` with what its documents read, at one revision.

        With a replica, it is read there unless the replica is below ``at_least`` (the
        revision the caller was notified of) for longer than ``REPLICA_WAIT``; then, or
        when the replica cannot be read, from the primary.
        """
        return self._host_read(lambda conn: read_host(conn, host), at_least)

    def catch_up(self, copy: HostCopy, at_least: int = -1) -> HostCopy:
        """``copy`` brought up to date from the host's feed (see :func:`closure.catch_up`);
        never to a revision below its own, whichever database answers."""
        return self._host_read(lambda conn: catch_up(conn, copy), max(at_least, copy.revision))

    def follow_host(self, host: str, copy: HostCopy | None, at_least: int = -1) -> HostCopy:
        """``copy`` caught up, or the host read whole when there is none yet."""
        if copy is None:
            return self.read_host(host, at_least)
        return self.catch_up(copy, at_least)

    def _host_read(self, read: Callable[[Connection], HostCopy], at_least: int) -> HostCopy:
        if self.replica is not None:
            deadline = time.monotonic() + REPLICA_WAIT
            while True:
                try:
                    with self._snapshot(self.replica) as conn:
                        found = read(conn)
                except SQLAlchemyError as exc:
                    log.warning("replica unreadable, reading the primary: %s", _reason(exc))
                    break
                if found.revision >= at_least:
                    return found
                if time.monotonic() >= deadline:
                    log.info("replica at revision %d, below %d: reading the primary",
                             found.revision, at_least)  # fmt: skip
                    break
                time.sleep(POLL_INTERVAL)
        with self._failures("cannot read"), self._snapshot() as conn:
            return read(conn)

    def feed_watch(self, host: str, role: str, **timing: float) -> feed.FeedWatch:
        """A long-lived waiter on ``host``'s feed that also reports for one process."""
        return feed.FeedWatch(self, host, role, **timing)

    def ports_by_mac(self, macs: list[str]) -> list[Any]:
        """The ports with these MACs, on any host (NICs a host's copy does not know)."""
        wanted = sorted({m.lower() for m in macs})
        with self._failures("cannot read"), self._read() as conn:
            return select_items(conn, "ports", schema.ports.c.mac_address, wanted)

    def host_statuses(self) -> tuple[int, float, list[dict[str, Any]]]:
        """The revision, the database's clock and every process's last report, with how
        many of its host's servers changed above what it applied (``pending``): one
        statement for all of them, as a store may hold thousands of hosts."""
        table, feed_table = schema.host_status, schema.host_feed
        pending = (
            select(func.count())
            .where(feed_table.c.host == table.c.host, feed_table.c.revision > table.c.applied)
            .scalar_subquery()
        )
        with self._failures("cannot read"), self._snapshot() as conn:
            revision = int(conn.execute(_REVISION).scalar_one())
            clock = float(
                conn.execute(text(f"SELECT {feed.now_sql(self.is_postgres)}")).scalar_one()
            )
            query = select(table, pending.label("pending"))
            rows = [dict(row._mapping) for row in conn.execute(query)]
        return revision, clock, rows

    def forget_host(self, host: str) -> int:
        """Delete every report row of ``host`` (a retired host, a service with fewer
        workers now); the number deleted. A process still running writes its row again
        at its next report."""
        table = schema.host_status
        with self._failures("cannot write to"), self._write() as conn:
            return int(conn.execute(delete(table).where(table.c.host == host)).rowcount)

    def watch(self) -> RevisionWatch:
        """A long-lived waiter for the revision to move (see :class:`RevisionWatch`)."""
        return RevisionWatch(self)

    def wait_for_revision(self, after: int, timeout: float) -> int:
        """Block until the revision is above ``after`` or ``timeout`` passes; return it."""
        if self.is_postgres:
            return self._wait_notify(after, timeout)
        deadline = time.monotonic() + timeout
        while True:
            current = self.revision()
            remaining = deadline - time.monotonic()
            if current > after or remaining <= 0:
                return current
            time.sleep(min(POLL_INTERVAL, remaining))

    def _wait_notify(self, after: int, timeout: float) -> int:
        raw = self.engine.raw_connection()
        try:
            pg = raw.driver_connection
            assert pg is not None
            raw.rollback()
            pg.autocommit = True
            pg.execute(f"LISTEN {CHANNEL}")
            deadline = time.monotonic() + timeout
            current = self.revision()  # after LISTEN, so no notification slips between
            while current <= after:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                for note in pg.notifies(timeout=remaining, stop_after=1):
                    current = max(current, int(note.payload))
                if current <= after:
                    current = self.revision()
            pg.execute(f"UNLISTEN {CHANNEL}")
            pg.autocommit = False
            return current
        finally:
            raw.close()

    @contextmanager
    def reader(self) -> Iterator[Reader]:
        """A connection held open for many lookups (the metadata service's hot path)."""
        raw = self.engine.raw_connection()
        try:
            yield Reader(raw, self.is_postgres)
        finally:
            if self.is_postgres and raw.driver_connection is not None:
                raw.driver_connection.autocommit = False
            raw.close()

    def server_id_for_address(self, network_id: str, address: str) -> str | None:
        with self.reader() as r:
            return r.server_id_for_address(network_id, address)

    def server_by_domain(self, domain_name: str, host: str | None = None) -> Server | None:
        with self.reader() as r:
            return r.server_by_domain(domain_name, host)

    def servers_on_host(self, host: str) -> list[Server]:
        with self.reader() as r:
            return r.servers_on_host(host)


class RevisionWatch:
    """Waits for the revision to move, for a process that waits all day.

    On PostgreSQL it keeps one connection that LISTENs: at rest it costs the database
    nothing but that idle connection, and a change wakes it at once. The revision is read
    only when the connection is (re)opened, so a notification missed while it was down is
    caught up then. On SQLite it polls, which is one cheap read of a local file.
    A failure (the database went away) raises; the caller closes the watch and opens a
    new one when it retries.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._raw: Any = None
        self._version = -1  # SQLite's data_version when last read

    def wait(self, after: int, timeout: float) -> int:
        """The revision once it is above ``after``, or ``after`` when ``timeout`` passes."""
        if not self.store.is_postgres:
            return self._poll(after, timeout)
        if self._raw is None:
            raw = self.store.engine.raw_connection()
            pg = raw.driver_connection
            assert pg is not None
            raw.rollback()
            pg.autocommit = True
            pg.execute(f"LISTEN {CHANNEL}")
            self._raw = raw
            current = int(pg.execute(_REVISION_SQL).fetchone()[0])
            if current > after:
                return current
        pg = self._raw.driver_connection
        current = after
        for note in pg.notifies(timeout=timeout, stop_after=1):
            current = max(current, int(note.payload))
        return current

    def _poll(self, after: int, timeout: float) -> int:
        """SQLite: ``PRAGMA data_version`` on one kept connection, which moves when another
        connection commits. It is a few microseconds of a thread's time, where a full query
        through the engine was a few hundred; the metadata service's workers poll in a thread
        beside their event loop, and every bit of that thread's time is taken from the loop
        (the GIL), in stalls that showed in the service's tail latency."""
        if self._raw is None:
            self._raw = self.store.engine.raw_connection()
            self._version = -1
        db = self._raw.driver_connection
        deadline = time.monotonic() + timeout
        while True:
            version = db.execute("PRAGMA data_version").fetchone()[0]
            if version != self._version:
                self._version = version
                current = int(db.execute(_REVISION_SQL).fetchone()[0])
                if current > after:
                    return current
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return after
            time.sleep(min(POLL_INTERVAL, remaining))

    def close(self) -> None:
        if self._raw is not None:
            raw, self._raw = self._raw, None
            # Never back to the pool (it is LISTENing); a broken one has nothing to give back.
            with contextlib.suppress(Exception):
                raw.invalidate()


class Reader:
    """Indexed lookups on one open DBAPI connection: the metadata service's hot path.

    It skips SQLAlchemy's per-statement machinery and runs fixed SQL on a driver
    connection in autocommit mode, so each lookup is one indexed read (tens of
    microseconds) and no transaction stays open between lookups.
    """

    def __init__(self, raw: Any, postgres: bool) -> None:
        self.raw = raw
        if postgres:
            raw.driver_connection.autocommit = True
        ph = "%s" if postgres else "?"
        self._by_address = (
            f"SELECT server_id FROM fixed_ips WHERE network_id = {ph} AND ip_address = {ph}"
        )
        self._by_domain = f"SELECT data FROM servers WHERE domain_name = {ph}"
        self._by_domain_host = f"{self._by_domain} AND host = {ph}"
        self._on_host = f"SELECT data FROM servers WHERE host = {ph} ORDER BY name, id"

    def _rows(self, sql: str, params: tuple[str, ...]) -> list[Any]:
        cursor = self.raw.cursor()
        try:
            cursor.execute(sql, params)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def server_id_for_address(self, network_id: str, address: str) -> str | None:
        """The server that has ``address`` on ``network_id`` (sub-ports count for their trunk's)."""
        if ":" in address:  # IPv6 has many spellings; addresses are stored canonical
            try:
                address = str(ipaddress.IPv6Address(address))
            except ValueError:
                return None
        for (server_id,) in self._rows(self._by_address, (network_id, address)):
            if server_id:
                return str(server_id)
        return None

    def server_by_domain(self, domain_name: str, host: str | None = None) -> Server | None:
        if host is None:
            rows = self._rows(self._by_domain, (domain_name,))
        else:
            rows = self._rows(self._by_domain_host, (domain_name, host))
        return decode_server(row_json(rows[0][0])) if rows else None

    def servers_on_host(self, host: str) -> list[Server]:
        return [decode_server(row_json(data)) for (data,) in self._rows(self._on_host, (host,))]


def _reason(exc: BaseException) -> str:
    """The first line of what the driver said, without SQLAlchemy's statement dump."""
    cause = getattr(exc, "orig", None) or exc
    if isinstance(cause, OSError) and cause.strerror:
        return f"{cause.strerror}: {cause.filename}"
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]
