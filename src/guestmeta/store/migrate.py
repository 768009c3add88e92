"""Bringing a database to the current schema with Alembic, cheaply when it is there already.

Alembic is imported only when a migration has to run: opening a current store costs
one query, which keeps every ``guestmeta`` command quick to start.
"""

from __future__ import annotations

from importlib import resources

from sqlalchemy import Connection, inspect, text

# The newest migration; a test checks it matches the scripts.
HEAD = "0003"


class MigrationError(RuntimeError):
    """The database's schema is one this guestmeta cannot bring to HEAD."""


def current_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return rows[0] if len(rows) == 1 else ",".join(sorted(rows)) or None


def upgrade(connection: Connection) -> None:
    """Run pending migrations inside the caller's (write-locked) transaction."""
    if current_revision(connection) == HEAD:
        return
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("guestmeta.store") / "migrations"))
    cfg.attributes["connection"] = connection
    try:
        command.upgrade(cfg, "head")
    except CommandError as exc:
        raise MigrationError(str(exc)) from None
