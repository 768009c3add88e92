"""What every command shares: the output format option, errors, and opening the store."""

from __future__ import annotations

import signal
import threading
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from guestmeta.apply import ApplyError
from guestmeta.apply.edit import find
from guestmeta.cli.output import as_json, printable
from guestmeta.model import Topology

if TYPE_CHECKING:
    from guestmeta.store import Result, Store

app = typer.Typer(
    help="Identity, network configuration and IP inventory for libvirt/KVM guests.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Format(StrEnum):
    table = "table"
    json = "json"


FormatOption = Annotated[
    Format, typer.Option("--format", "-f", help="table for people, json for scripts")
]
_state: dict[str, str] = {}


ConnectOption = Annotated[
    str | None,
    typer.Option(
        "--connect",
        "-c",
        envvar="LIBVIRT_DEFAULT_URI",
        help="libvirt URI [default: qemu:///system]",
    ),
]


MAX_LINES = 1000  # problems printed; a file with more is not worth reading line by line
MAX_LINE = 1000  # characters of one line


def fail(lines: list[str] | str) -> NoReturn:
    """Print one line per problem on stderr and exit 1.

    The last guard of "one line per problem": a line cannot be split by a control
    character that reached it unquoted, nor grow without bound, nor be repeated millions
    of times.
    """
    lines = [lines] if isinstance(lines, str) else lines
    for line in lines[:MAX_LINES]:
        typer.echo(one_line(line), err=True)
    if len(lines) > MAX_LINES:
        typer.echo(f"... and {len(lines) - MAX_LINES} more problems", err=True)
    raise typer.Exit(1)


def one_line(line: str) -> str:
    """``line`` with control characters escaped and its length capped."""
    line = printable(line)
    if len(line) > MAX_LINE:
        line = f"{line[:MAX_LINE]}... ({len(line)} characters)"
    return line


def store_url(fallback: str | None = None) -> str:
    """The URL of ``--db`` (or ``GUESTMETA_DB``), else ``fallback``, else the default."""
    from guestmeta.store import default_url
    from guestmeta.store.engine import normalize_url

    return normalize_url(_state.get("db") or fallback or default_url())


def open_store(
    fallback: str | None = None, *, client: str | None = None, replica: str | None = None
) -> Store:
    """The store of ``--db`` (or ``GUESTMETA_DB``), else ``fallback``, else the default.

    ``client``: a long-running process of one host, which names its connections and holds
    none but its LISTEN connection at rest (see ``guestmeta.store.engine.make_engine``);
    ``replica``: a read replica for its host's copy.
    """
    # Imported here: commands that never open the store start faster without SQLAlchemy.
    from guestmeta.store import Store, StoreError

    try:
        if client is None:
            return Store(store_url(fallback))
        return Store(store_url(fallback), client=client, pooled=False, replica=replica)
    except StoreError as exc:
        fail(f"guestmeta: {exc}")


def load_server(ref: str) -> tuple[Topology, str]:
    """The store's topology and the id of the server ``ref`` names (id, name or domain)."""
    with open_store() as store:
        topology = store.load()
    try:
        return topology, find(topology, "servers", ref)
    except ApplyError as exc:
        fail(exc.lines)


def result_body(result: Result) -> dict[str, Any]:
    """A store change as JSON: the revision it made and each item it touched."""
    return {
        "revision": result.revision,
        "changes": [{"action": c.action, "kind": c.kind, "id": c.id} for c in result.changes],
    }


def report(result: Result, fmt: Format, verb: str) -> None:
    """A store change for people (one line per item, then a summary) or as JSON."""
    if fmt is Format.json:
        typer.echo(as_json(result_body(result)))
        return
    for change in result.changes:
        typer.echo(str(change))
    if result.changes:
        typer.echo(f"{verb}: {len(result.changes)} change(s), store revision {result.revision}")
    else:
        typer.echo(f"{verb}: nothing to change, store revision {result.revision}")


def stop_on_signals() -> threading.Event:
    """An event that SIGTERM and SIGINT set, for a long-running command to wait on.

    Our own handlers for both: systemd stops with SIGTERM, and a process started in the
    background by a script inherits SIGINT ignored, so Python's KeyboardInterrupt would
    never come and Ctrl-C or ``kill -INT`` would leave it running.
    """
    stop = threading.Event()

    def stopping(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    return stop
