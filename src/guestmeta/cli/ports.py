"""``guestmeta port attach|detach``: a port plugged into a server, in the store and the domain.

libvirt and the host package load inside the commands, so the other commands start
without the libvirt binding.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from guestmeta.apply import ApplyError
from guestmeta.cli.common import (
    ConnectOption,
    Format,
    FormatOption,
    app,
    fail,
    open_store,
    report,
    result_body,
)
from guestmeta.cli.output import as_json
from guestmeta.libvirt.interfaces import (
    DEFAULT_VIF_SOURCE,
    ENV_VIF_SOURCE,
    VifSourceError,
    parse_vif_source,
)

if TYPE_CHECKING:
    from guestmeta.host.ports import PortChange
    from guestmeta.store import Store

port_app = typer.Typer(help="Plug ports into servers and unplug them.", no_args_is_help=True)
app.add_typer(port_app, name="port")

VifSourceOption = Annotated[
    str,
    typer.Option(
        "--vif-source",
        envvar=ENV_VIF_SOURCE,
        help="where plugged NICs go: user, bridge:NAME, network:NAME or ovs:NAME",
    ),
]


def _libvirt(connect: str | None) -> Any:
    """A connection, or None for store-only when no URI was asked for and none answers.

    An explicit ``--connect`` (or LIBVIRT_DEFAULT_URI) that does not answer is an error,
    raised before the store is touched.
    """
    from guestmeta.libvirt.connection import LibvirtUnreachable, open_connection

    try:
        return open_connection(connect, keepalive=True)
    except LibvirtUnreachable as exc:
        if connect:
            fail(f"guestmeta: {exc}")
        return None


def _port_change(connect: str | None, run: Callable[[Store, Any], PortChange]) -> PortChange:
    """One port change with the store and libvirt open; refusals are one-line errors."""
    from guestmeta.libvirt.hotplug import HotplugError

    conn = _libvirt(connect)
    try:
        with open_store() as store:
            try:
                return run(store, conn)
            except ApplyError as exc:
                fail(exc.lines)
            except HotplugError as exc:
                fail(f"guestmeta: {exc}")
    finally:
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


def _port_report(change: PortChange, fmt: Format, verb: str) -> None:
    if fmt is Format.json:
        body = result_body(change.result)
        if change.domain is not None:
            body["domain"] = change.as_dict()
        typer.echo(as_json(body))
    else:
        report(change.result, fmt, verb)
        for line in change.lines():
            typer.echo(line)
    if change.note:
        typer.echo(f"guestmeta: {change.note}", err=True)
    if change.metadata is not None and change.metadata.error is not None:
        fail(f"guestmeta: {change.metadata.describe()} (the agent will retry)")


@port_app.command("attach")
def port_attach(
    port: Annotated[str, typer.Argument(help="port id or name")],
    server: Annotated[str, typer.Argument(help="server id, name or domain name")],
    connect: ConnectOption = None,
    vif_source: VifSourceOption = DEFAULT_VIF_SOURCE,
    fmt: FormatOption = Format.table,
) -> None:
    """Plug PORT into SERVER: the store, then a virtio NIC in its domain, then its metadata."""
    try:
        source = parse_vif_source(vif_source)
    except VifSourceError as exc:
        fail(f"guestmeta: {exc}")
    from guestmeta.host.ports import attach_port

    done = _port_change(connect, lambda store, conn: attach_port(store, conn, port, server, source))
    _port_report(done, fmt, "attached")


@port_app.command("detach")
def port_detach(
    port: Annotated[str, typer.Argument(help="port id or name")],
    connect: ConnectOption = None,
    timeout: Annotated[
        float, typer.Option(help="seconds to wait for the guest to release the NIC", min=0.0)
    ] = 30.0,
    fmt: FormatOption = Format.table,
) -> None:
    """Unplug PORT: its NIC leaves the domain (the guest must let go), then the store."""
    from guestmeta.host.ports import detach_port

    done = _port_change(connect, lambda store, conn: detach_port(store, conn, port, timeout))
    _port_report(done, fmt, "detached")
