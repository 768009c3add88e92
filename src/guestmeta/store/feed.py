"""The per-host change feed: what each host needs to know, and nothing else.

Many hosts share one store, and each runs an agent and a metadata service for its own
servers. Reloading the whole store on every change would make each host's cost grow
with the number of the others, and the database's with the square of it. So every
change records, in the same transaction, the revision that touched each server of each
host (the host a server is on and the one it left, ``host_feed``), and notifies that
host's own channel. A host then reads only its rows above the revision it applied and
fetches those servers with what their documents read (:mod:`guestmeta.store.closure`).

:class:`FeedWatch` is the waiting side: one connection per process that LISTENs on the
host's channel (PostgreSQL) or polls the file's ``data_version`` (SQLite), asks for the
host's newest feed revision when it (re)connects and every ``poll`` seconds as a
fallback, and carries the process's reports to ``host_status`` (what ``guestmeta status``
shows). At rest that is one query per ``poll`` and one write per ``report_every``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections import deque
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select, text
from sqlalchemy.dialects import postgresql, sqlite

from guestmeta.model import Topology
from guestmeta.store import schema

if TYPE_CHECKING:
    from guestmeta.store.store import Store

POLL = 30.0  # seconds between fallback polls of a host's feed
REPORT_EVERY = 10.0  # seconds between a process's reports to host_status
REPORT_SOON = 1.0  # at most this long after applying a revision, it is reported
FAILURES_KEPT = 5
SQLITE_TICK = 0.05  # seconds between looks at SQLite's data_version
_SQLITE_NOW = "(julianday('now') - 2440587.5) * 86400.0"
_PG_NOW = "extract(epoch from clock_timestamp())"


def now_sql(postgres: bool) -> str:
    """The database's clock in seconds since the epoch, as SQL (hosts' clocks do not count)."""
    return _PG_NOW if postgres else _SQLITE_NOW


def channel(host: str) -> str:
    """The host's LISTEN/NOTIFY channel: a fixed-length identifier whatever the name."""
    return "guestmeta_host_" + hashlib.sha256(host.encode()).hexdigest()[:32]


def hosts_of(touched: Iterable[str], old: Topology, new: Topology) -> dict[str, set[str]]:
    """Host -> the servers of ``touched`` there, on the host they left and the new one."""
    found: dict[str, set[str]] = {}
    for server_id in touched:
        for topology in (old, new):
            server = topology.servers.get(server_id)
            if server is not None and server.host:
                found.setdefault(server.host, set()).add(server_id)
    return found


def record(conn: Connection, revision: int, touched: Mapping[str, Iterable[str]]) -> None:
    """Write the feed rows of one change and notify each host (on commit, with the rest)."""
    rows = [
        {"host": host, "server_id": server_id, "revision": revision}
        for host, servers in touched.items()
        for server_id in servers
    ]
    if not rows:
        return
    postgres = conn.dialect.name == "postgresql"
    table = schema.host_feed
    upsert = (postgresql.insert if postgres else sqlite.insert)(table)
    statement = upsert.on_conflict_do_update(
        index_elements=[table.c.host, table.c.server_id],
        set_={"revision": upsert.excluded.revision},
    )
    for start in range(0, len(rows), 500):
        conn.execute(statement, rows[start : start + 500])
    if postgres:
        for host in touched:
            conn.execute(text("SELECT pg_notify(:c, :r)"), {"c": channel(host), "r": str(revision)})


def host_of(conn: Connection, server_id: str) -> str | None:
    table = schema.servers
    return conn.execute(select(table.c.host).where(table.c.id == server_id)).scalar_one_or_none()


class RecentFailures:
    """The last few failures of a process, with when they happened, for its reports."""

    def __init__(self) -> None:
        self.items: deque[tuple[float, str]] = deque(maxlen=FAILURES_KEPT)
        self.count = 0

    def add(self, message: str) -> None:
        line = (message.strip().splitlines() or ["failure"])[0][:300]
        self.items.append((round(time.time(), 1), line))
        self.count += 1

    def as_json(self) -> str:
        return json.dumps([list(item) for item in self.items])


class FeedWatch:
    """Waits for a host's feed to move and reports for one process of that host.

    A failure (the database went away) raises; the caller closes the watch and tries
    again later, and the next :meth:`wait` reconnects and reads the feed's newest
    revision, so nothing notified while it was down is missed.
    """

    def __init__(
        self,
        store: Store,
        host: str,
        role: str,
        *,
        poll: float = POLL,
        report_every: float = REPORT_EVERY,
    ) -> None:
        self.store = store
        self.host = host
        self.role = role
        self.poll = poll
        self.report_every = report_every
        self.postgres = store.is_postgres
        self.ph = "%s" if self.postgres else "?"
        self.applied = -1  # what the process has applied, set by its owner
        self.failures = RecentFailures()
        self._raw: Any = None
        self._version = -1
        self._next_poll = 0.0
        self._next_report = 0.0
        self._reported = -1  # the applied revision last reported
        self._last_report = 0.0
        self._started = False
        self.queries = 0  # every statement this watch sent, for the tests' count

    # -- the connection ------------------------------------------------------------

    def _open(self) -> Any:
        if self._raw is None:
            raw = self.store.engine.raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            if self.postgres:
                raw.rollback()
                driver.autocommit = True
                driver.execute(f'LISTEN "{channel(self.host)}"')
            self._raw = raw
            self._version = -1
            self._next_poll = 0.0  # (re)connected: ask at once
        return self._raw.driver_connection

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        db = self._open()
        self.queries += 1
        row = db.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def latest(self) -> int:
        """The newest feed revision of this host (0 when nothing ever touched it)."""
        sql = f"SELECT max(revision) FROM host_feed WHERE host = {self.ph}"
        return int(self._one(sql, (self.host,)) or 0)

    # -- waiting ---------------------------------------------------------------------

    def wait(self, after: int, timeout: float) -> int:
        """The host's newest feed revision once above ``after``, or ``after`` at ``timeout``.

        Reports are sent on the way when due, so a process that only waits still shows
        as alive in ``guestmeta status``.
        """
        deadline = time.monotonic() + timeout
        db = self._open()
        current = after
        while True:
            now = time.monotonic()
            if self.applied != self._reported:  # news for guestmeta status, soon
                self._next_report = min(self._next_report, self._last_report + REPORT_SOON)
            if now >= self._next_report:
                self.report()
            if now >= self._next_poll:
                self._next_poll = now + self.poll
                current = max(current, self.latest())
            if current > after:
                return current
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return after
            pause = min(remaining, self._next_poll - now, self._next_report - now)
            if self.postgres:
                for note in db.notifies(timeout=max(pause, 0.0), stop_after=1):
                    current = max(current, int(note.payload))
            else:
                current = max(current, self._sqlite_tick(db, min(pause, SQLITE_TICK)))

    def _sqlite_tick(self, db: Any, pause: float) -> int:
        """SQLite has no notifications: ``data_version`` moves when another connection
        commits, and only then is the feed asked."""
        time.sleep(max(pause, 0.0))
        version = db.execute("PRAGMA data_version").fetchone()[0]
        if version == self._version:
            return -1
        self._version = version
        return self.latest()

    # -- reporting -------------------------------------------------------------------

    def report(self) -> None:
        """Tell the store what this process applied, that it is alive and what failed."""
        now = now_sql(self.postgres)
        ph = self.ph
        values = (self.host, self.role, os.getpid(), self.applied, self.failures.as_json())
        updated = "pid, applied, failures, seen_at" + ("" if self._started else ", started_at")
        sets = ", ".join(f"{column} = excluded.{column}" for column in updated.split(", "))
        sql = (
            "INSERT INTO host_status (host, role, pid, applied, failures, started_at, seen_at)"
            f" VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, {now}, {now})"
            f" ON CONFLICT (host, role) DO UPDATE SET {sets}"
        )
        db = self._open()
        self.queries += 1
        db.execute(sql, values)
        if not self.postgres:
            db.commit()
        self._started = True
        self._reported = values[3]
        self._last_report = time.monotonic()
        self._next_report = self._last_report + self.report_every

    def close(self) -> None:
        if self._raw is not None:
            raw, self._raw = self._raw, None
            # Never back to the pool (it is LISTENing); a broken one has nothing to give back.
            with contextlib.suppress(Exception):
                raw.invalidate()
