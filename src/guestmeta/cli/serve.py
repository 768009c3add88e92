"""``guestmeta serve`` and ``guestmeta password``: the metadata service, what guests post."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from guestmeta.cli.common import app, fail, load_server, open_store

password_app = typer.Typer(help="The password a guest posted to the metadata service.")
app.add_typer(password_app, name="password")


@app.command()
def serve(
    listen: Annotated[
        list[str] | None,
        typer.Option(
            "--listen",
            help="ADDR:PORT or unix:/PATH to serve on, repeatable; replaces the file's "
            "listeners (callers identified by source address) [default: 127.0.0.1:8775]",
        ),
    ] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes", min=1)] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", envvar="GUESTMETA_CONFIG", help="TOML settings file"),
    ] = None,
    admin_listen: Annotated[
        str | None, typer.Option(help="ADDR:PORT for /healthz and /metrics")
    ] = None,
    feed_db: Annotated[
        str | None,
        typer.Option(
            "--feed-db",
            metavar="URL",
            help="with --host: a read replica of the PostgreSQL store for this host's servers",
        ),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(
            help="serve only the servers the store places on this compute host, following "
            "its change feed [default: every server in the store]"
        ),
    ] = None,
) -> None:
    """Serve Nova's metadata tree (OpenStack and EC2) to this store's guests over HTTP.

    Answers come from bytes built when the store changes (a change is served within a
    second); callers are identified by source address, a Neutron proxy's signed headers
    or a per-server channel, as each listener says. Runs until SIGTERM or Ctrl-C.
    """
    from guestmeta.documents import VendorData, VendorDataError
    from guestmeta.service.server import ServeError
    from guestmeta.service.server import serve as run
    from guestmeta.service.settings import Endpoint, Listener, SettingsError, load_settings

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("guestmeta").setLevel(logging.INFO)
    try:
        overrides: dict[str, Any] = {"workers": workers}
        if host is not None:
            if not host.strip():
                raise SettingsError("--host: empty; give the store's name for this host")
            overrides["host"] = host
        if feed_db is not None:
            overrides["feed_db"] = feed_db
        if listen:
            overrides["listeners"] = tuple(
                Listener(Endpoint.parse(item, "--listen")) for item in listen
            )
        if admin_listen:
            overrides["admin"] = Endpoint.parse(admin_listen, "--admin-listen")
        settings = load_settings(config, None, **overrides)
        VendorData.from_dir(settings.vendor_data_dir or None)
    except (SettingsError, VendorDataError) as exc:
        fail(f"guestmeta: {exc}")
    # --db and GUESTMETA_DB come before the file's db; fails in one line before anything listens
    with open_store(settings.db) as store:
        url = store.url
    try:
        raise typer.Exit(run(settings, url))
    except ServeError as exc:
        fail(f"guestmeta: {exc}")


@password_app.command("show")
def password_show(server: Annotated[str, typer.Argument(help="id, name or domain name")]) -> None:
    """Print the password the server's guest posted (empty when none)."""
    _topology, server_id = load_server(server)
    with open_store() as store:
        typer.echo(store.password(server_id) or "")


@password_app.command("clear")
def password_clear(server: Annotated[str, typer.Argument(help="id, name or domain name")]) -> None:
    """Forget the password, so that the guest may post a new one (Nova's clear-password)."""
    _topology, server_id = load_server(server)
    with open_store() as store:
        if not store.clear_password(server_id):
            fail(f"guestmeta: server {server_id} has no password set")
    typer.echo(f"cleared the password of server {server_id}")
