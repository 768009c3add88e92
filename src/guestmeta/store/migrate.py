"""Bringing a database to the current schema with Alembic, cheaply when it is there already."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

# The newest migration; a test checks it matches the scripts, so opening a current
# store costs one query instead of parsing every migration script.
HEAD = "0001"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("guestmeta.store") / "migrations"))
    cfg.attributes["connection"] = connection
    return cfg


def current_revision(connection: Connection) -> str | None:
    rev: str | None = MigrationContext.configure(connection).get_current_revision()
    return rev


def upgrade(connection: Connection) -> None:
    """Run pending migrations inside the caller's (write-locked) transaction."""
    if current_revision(connection) != HEAD:
        command.upgrade(alembic_config(connection), "head")
