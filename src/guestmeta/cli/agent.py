"""``guestmeta agent``: keeps every domain's metadata on this host equal to the store."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from guestmeta.cli.common import ConnectOption, app, fail, open_store, stop_on_signals
from guestmeta.cli.render import DhcpDomainOption, VendorDirOption
from guestmeta.documents.options import DEFAULT_DHCP_DOMAIN
from guestmeta.drives.kinds import FileSystem, Layout


@app.command()
def agent(
    connect: ConnectOption = None,
    host: Annotated[
        str | None,
        typer.Option(help="the store's name for this compute host [default: the hostname]"),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="one full pass, then exit (1 if a domain failed)")
    ] = False,
    interval: Annotated[float, typer.Option(help="seconds between full passes", min=1.0)] = 60.0,
    unplug_timeout: Annotated[
        float,
        typer.Option(
            help="seconds a guest gets to release the NIC of a port the store detached",
            min=0.0,
        ),
    ] = 10.0,
    config_drives: Annotated[
        str | None,
        typer.Option(
            "--config-drives",
            metavar="DIR",
            help="keep each server's config drive in DIR and on its domain's cdrom",
        ),
    ] = None,
    drive_layout: Annotated[
        Layout, typer.Option("--drive-layout", help="layout of the config drives")
    ] = Layout.config_2,
    drive_fs: Annotated[
        FileSystem, typer.Option("--drive-fs", help="file system of the config drives")
    ] = FileSystem.iso9660,
    vendor_dir: VendorDirOption = None,
    dhcp_domain: DhcpDomainOption = DEFAULT_DHCP_DOMAIN,
    feed_db: Annotated[
        str | None,
        typer.Option(
            "--feed-db",
            envvar="GUESTMETA_FEED_DB",
            metavar="URL",
            help="a read replica of the PostgreSQL store for this host's servers "
            "(waiting and writes stay on --db)",
        ),
    ] = None,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="also log every check")
    ] = 0,
) -> None:
    """Keep the nova:instance metadata of this host's domains equal to the store.

    Writes only what differs, live and saved; reacts to store changes and libvirt
    events within a second; adopts ports whose MAC someone plugged by hand, unplugs
    NICs of ports the store detached, and removes its element from domains that are no
    longer this host's servers. With --config-drives, also builds each server's config
    drive in DIR, puts it on the domain's cdrom, and rebuilds and swaps it whenever the
    server's documents change.
    """
    from pathlib import Path

    from guestmeta.documents import DocumentOptions, VendorData, VendorDataError
    from guestmeta.host.agent import Agent
    from guestmeta.host.drives import DriveKeeper
    from guestmeta.libvirt.connection import LibvirtUnreachable

    drives = None
    if config_drives is not None:
        directory = Path(config_drives)
        if not directory.is_dir():
            fail(f"guestmeta agent: --config-drives {config_drives}: not a directory")
        try:
            vendor = VendorData.from_dir(vendor_dir)
        except VendorDataError as exc:
            fail(f"guestmeta: {exc}")
        options = DocumentOptions(dhcp_domain=dhcp_domain, vendor=vendor)
        drives = DriveKeeper(directory, drive_layout, drive_fs, options)

    # Our own loggers speak; libraries (Alembic, SQLAlchemy) only when something is wrong.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("guestmeta").setLevel(logging.DEBUG if verbose else logging.INFO)
    import socket

    host = host or socket.gethostname()
    with open_store(client=f"guestmeta agent {host}", replica=feed_db) as store:
        worker = Agent(
            store,
            uri=connect,
            host=host,
            interval=interval,
            unplug_timeout=unplug_timeout,
            drives=drives,
        )
        if once:
            try:
                report = worker.run_once()
            except LibvirtUnreachable as exc:
                fail(f"guestmeta: {exc}")
            typer.echo(report.summary())
            if report.failed:
                fail([f"guestmeta: {outcome.describe()}" for outcome in report.failed])
            return
        worker.run(stop_on_signals())
