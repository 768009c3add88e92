"""The ``guestmeta`` command: thin commands over the library."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated

import typer

# typer bundles its own click; its exceptions are reachable only here (typer is pinned).
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

from guestmeta.apply import ApplyError, Plan, SourceError, load_document, plan_apply
from guestmeta.apply.edit import kind_name, plan_delete
from guestmeta.cli import agent as _agent  # noqa: F401  (registers its commands)
from guestmeta.cli import configdrive as _configdrive  # noqa: F401  (registers its commands)
from guestmeta.cli import demo as _demo  # noqa: F401  (registers its commands)
from guestmeta.cli import inventory as _inventory  # noqa: F401  (registers its commands)
from guestmeta.cli import ports as _ports  # noqa: F401  (registers its commands)
from guestmeta.cli import serve as _serve  # noqa: F401  (registers its commands)
from guestmeta.cli import status as _status  # noqa: F401  (registers its commands)
from guestmeta.cli import views
from guestmeta.cli.common import (
    Format,
    FormatOption,
    _state,
    app,
    fail,
    load_server,
    open_store,
    report,
)
from guestmeta.cli.output import print_object, print_rows
from guestmeta.cli.render import render_app
from guestmeta.model import Topology

app.add_typer(render_app, name="render")


class Kind(StrEnum):
    servers = "servers"
    ports = "ports"
    networks = "networks"
    subnets = "subnets"
    floatingips = "floatingips"


@app.callback()
def main_options(
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="GUESTMETA_DB",
            help="SQLAlchemy URL or SQLite path of the store [default: per-host SQLite file]",
        ),
    ] = None,
) -> None:
    if db:
        _state["db"] = db


def change(
    compute: Callable[[Topology], Plan], fmt: Format, verb: str, *, dry_run: bool = False
) -> None:
    """Run one checked change on the store (or only show it) and report it; refusals exit 1."""
    with open_store() as store:
        try:
            result = store.preview(compute) if dry_run else store.change(compute)
        except ApplyError as exc:
            fail(exc.lines)
    report(result, fmt, verb)


@app.command()
def apply(
    files: Annotated[list[str], typer.Argument(help="YAML or JSON files; - reads stdin")],
    prune: Annotated[
        bool,
        typer.Option(help="remove stored items of the kinds the files list that they leave out"),
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="check and show changes, store nothing")] = False,
    fmt: FormatOption = Format.table,
) -> None:
    """Make the store match FILES (OpenStack API bodies): idempotent, all or nothing."""
    problems: list[str] = []
    documents = []
    for path in files:
        try:
            documents.append(load_document(path))
        except SourceError as exc:
            problems.extend(str(exc).splitlines())
    if problems:
        fail(problems)
    change(
        lambda current: plan_apply(current, documents, prune=prune),
        fmt,
        "dry run" if dry_run else "applied",
        dry_run=dry_run,
    )


@app.command()
def delete(
    kind: Annotated[str, typer.Argument(help="network, subnet, port, floatingip, bond, ...")],
    ref: Annotated[str, typer.Argument(metavar="ID", help="id or name")],
    fmt: FormatOption = Format.table,
) -> None:
    """Delete one item; refused while other items still refer to it."""
    try:
        kind_name(kind)
    except ApplyError as exc:
        fail(exc.lines)
    change(lambda current: plan_delete(current, kind, ref), fmt, "deleted")


@app.command("list")
def list_items(
    kind: Annotated[Kind, typer.Argument(help="what to list")],
    fmt: FormatOption = Format.table,
) -> None:
    """List servers, ports, networks, subnets or floating IPs."""
    with open_store() as store:
        topology = store.load()
    print_rows(views.rows(kind.value, topology), views.COLUMNS[kind.value], fmt.value)


@app.command()
def show(
    server: Annotated[str, typer.Argument(help="id, name or libvirt domain name")],
    fmt: FormatOption = Format.table,
) -> None:
    """Show one server with its ports, addresses, floating IPs and flavor."""
    topology, server_id = load_server(server)
    detail = views.server_detail(topology.servers[server_id], topology)
    print_object(detail, fmt.value, views.DETAIL_TABLES)


@app.command()
def revision(
    wait: Annotated[
        int | None, typer.Option(help="wait until the revision is above this number")
    ] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait at most")] = 30.0,
) -> None:
    """Print the store revision; with --wait, block until it moves past a number."""
    with open_store() as store:
        if wait is None:
            typer.echo(store.revision())
            return
        current = store.wait_for_revision(wait, timeout)
    typer.echo(current)
    if current <= wait:
        fail(f"guestmeta: revision still {current} after {timeout:g} s")


def main() -> None:
    """Run the command; a usage error is one line naming the command and what is wrong."""
    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as exc:  # a bare command group: its help, as usual
        exc.show()
        sys.exit(exc.exit_code)
    except UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "guestmeta"
        hint = f" (see {where} --help)" if exc.ctx is not None else ""
        message = " ".join(exc.format_message().split())
        typer.echo(f"{where}: {message}{hint}", err=True)
        sys.exit(exc.exit_code)
    except ClickException as exc:
        typer.echo(f"guestmeta: {' '.join(exc.format_message().split())}", err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except BrokenPipeError:  # e.g. piped into head
        sys.exit(0)
    except Exception as exc:
        # The store is imported only by commands that use it (it costs start-up time).
        store = sys.modules.get("guestmeta.store")
        if store is None or not isinstance(exc, store.StoreError):
            raise
        typer.echo(f"guestmeta: {exc}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
