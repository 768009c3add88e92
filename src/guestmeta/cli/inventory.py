"""``guestmeta ips`` and ``guestmeta exporter``: the host's guest IPs, read from domain XML."""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import os
import sys
import tempfile
import threading
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from guestmeta.cli.common import ConnectOption, app, fail, stop_on_signals
from guestmeta.cli.output import as_json, print_rows
from guestmeta.inventory.rows import COLUMNS, Row, Scan, select


class IpsFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    prometheus_sd = "prometheus-sd"


def _scan(connect: str | None, xml: list[Path], strict: bool) -> Scan:
    if connect and xml and connect != os.environ.get("LIBVIRT_DEFAULT_URI"):
        fail("guestmeta: give --connect or --xml, not both")
    if xml:
        from guestmeta.inventory.xmlfiles import scan_files

        for path in xml:
            if not path.exists():
                fail(f"guestmeta: --xml {path}: no such file or directory")
        return scan_files(xml, verify=strict)
    import libvirt

    from guestmeta.inventory.connection import scan_uri

    try:
        return scan_uri(connect)
    except libvirt.libvirtError as exc:
        where = connect or os.environ.get("LIBVIRT_DEFAULT_URI") or "the default URI"
        fail(f"guestmeta: cannot read domains from {where}: {exc.get_error_message()}")


def _render(rows: list[Row], fmt: IpsFormat, target_port: int | None) -> str:
    if fmt is IpsFormat.prometheus_sd:
        from guestmeta.inventory.discovery import target_groups

        return json.dumps(target_groups(rows, target_port), indent=2) + "\n"
    if fmt is IpsFormat.json:
        return as_json([row.as_dict() for row in rows]) + "\n"
    if fmt is IpsFormat.csv:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow("" if v is None else v for v in row.as_dict().values())
        return out.getvalue()
    raise AssertionError(fmt)


def _write_atomically(path: Path, text: str) -> None:
    """Prometheus re-reads a discovery file whenever it changes: never let it see half."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@app.command()
def ips(
    connect: ConnectOption = None,
    xml: Annotated[
        list[Path] | None,
        typer.Option(
            "--xml",
            help="domain XML file or directory of them (persistent or live <domstatus>); "
            "repeat for more, e.g. --xml /etc/libvirt/qemu --xml /run/libvirt/qemu",
        ),
    ] = None,
    ip: Annotated[str | None, typer.Option("--ip", help="only the guest with this address")] = None,
    instance: Annotated[
        str | None, typer.Option("--instance", help="only this instance: uuid, name or domain")
    ] = None,
    all_domains: Annotated[
        bool, typer.Option("--all", help="also list domains without addresses")
    ] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="read files whole (slower) and exit 1 if any domain could not be read",
        ),
    ] = False,
    fmt: Annotated[IpsFormat, typer.Option("--format", "-f")] = IpsFormat.table,
    target_port: Annotated[
        int | None,
        typer.Option(
            "--target-port", min=1, max=65535, help="port to put in prometheus-sd targets"
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="write to this file (atomically) instead of stdout"),
    ] = None,
) -> None:
    """List every guest address on this host from the domains' nova:instance metadata.

    Reads only the metadata element through libvirt, or the XML files libvirtd keeps,
    never a REST API; works on any libvirt host, Nova's included (namespaces 1.0 and 1.1).
    """
    if ip is not None:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            fail(f"guestmeta: --ip: {ip!r} is not an IP address")
    scan = _scan(connect, list(xml or []), strict)
    for failure in scan.failures:
        typer.echo(f"guestmeta: skipped {failure}", err=True)
    rows = select(scan.rows(include_bare=all_domains and ip is None), ip, instance)
    if fmt is IpsFormat.table and output is None:
        if rows or (ip is None and instance is None):
            print_rows([r.as_dict() for r in rows], COLUMNS, "table")
    else:
        text = _render(rows, fmt, target_port) if fmt is not IpsFormat.table else ""
        if output is not None:
            _write_atomically(output, text)
        else:
            sys.stdout.write(text)
    if (ip is not None or instance is not None) and not rows:
        wanted = f"address {ip}" if ip is not None else f"instance {instance}"
        fail(f"guestmeta: no guest has {wanted}" if ip else f"guestmeta: no {wanted}")
    if strict and scan.failures:
        raise typer.Exit(1)


@app.command()
def exporter(
    connect: ConnectOption = None,
    listen: Annotated[
        str,
        typer.Option(
            "--listen", help="ADDR:PORT to serve /metrics on; use 0.0.0.0:9179 to expose it"
        ),
    ] = "127.0.0.1:9179",
    full_pass: Annotated[
        float, typer.Option("--full-pass", min=1.0, help="seconds between full passes")
    ] = 60.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log each pass")] = False,
) -> None:
    """Serve Prometheus metrics of every guest address on this host.

    Keeps an in-memory index updated by libvirt events, so a scrape reads no XML.
    """
    import logging

    from guestmeta.inventory.exporter import Exporter, parse_listen
    from guestmeta.inventory.index import Index

    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        fail(f"guestmeta: --listen: {exc}")
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    index = Index(connect, full_pass_interval=full_pass)
    try:
        server = Exporter(index).server(host, port)
    except OSError as exc:
        fail(f"guestmeta: cannot listen on {listen}: {exc.strerror or exc}")
    stop = stop_on_signals()
    index.start()
    serving = threading.Thread(target=server.serve_forever, name="guestmeta-http", daemon=True)
    serving.start()
    typer.echo(f"guestmeta exporter: serving http://{listen}/metrics", err=True)
    try:
        stop.wait()
    finally:
        server.shutdown()
        server.server_close()
        index.stop()
