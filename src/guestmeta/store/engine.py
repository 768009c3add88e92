"""Engines for the two stores, with the connection settings each needs.

SQLite: WAL so readers never block the writer, a long busy timeout, and
``BEGIN IMMEDIATE`` for writes so two applies queue instead of failing half-way.
PostgreSQL: psycopg 3, whatever driver the URL names or not.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

WRITE = "guestmeta_write"


def default_url() -> str:
    """``GUESTMETA_DB``, else a file under /var/lib (root) or the user's state directory."""
    url = os.environ.get("GUESTMETA_DB")
    if url:
        return url
    if os.geteuid() == 0:
        base = Path("/var/lib/guestmeta")
    else:
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local/state") / "guestmeta"
    return f"sqlite:///{base / 'guestmeta.db'}"


def normalize_url(url: str) -> str:
    """Accept plain paths and driver-less PostgreSQL URLs."""
    if "://" not in url:
        return f"sqlite:///{Path(url).absolute()}"
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def make_engine(url: str, client: str | None = None, pooled: bool = True) -> Engine:
    """The engine for ``url``. On PostgreSQL, ``client`` names the connections
    (``application_name``, what ``pg_stat_activity`` shows) and ``pooled=False`` closes each
    one after use: a host's agent or service then holds only its LISTEN connection at rest,
    which is what a database shared by thousands of hosts can afford."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    options: dict[str, Any] = {}
    if client:
        options["connect_args"] = {"application_name": client[:63]}
    if not pooled:
        return create_engine(url, poolclass=NullPool, **options)
    return create_engine(url, pool_pre_ping=True, **options)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's begin event, not pysqlite, decide how a transaction starts.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    immediate = conn.get_execution_options().get(WRITE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
