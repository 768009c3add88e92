"""``guestmeta configdrive``: write a server's config drive, or inspect any drive."""

from __future__ import annotations

from typing import Annotated

import typer

from guestmeta.cli.common import Format, FormatOption, app, fail, load_server
from guestmeta.cli.output import as_json
from guestmeta.cli.render import DhcpDomainOption, VendorDirOption
from guestmeta.documents.options import DEFAULT_DHCP_DOMAIN
from guestmeta.drives.kinds import DriveError, FileSystem, Layout


def _inspect(path: str, fmt: Format) -> None:
    from guestmeta.drives.inspect import inspect_drive
    from guestmeta.drives.read import ReadError

    try:
        found = inspect_drive(path)
    except ReadError as exc:
        fail(f"guestmeta: {exc}")
    if fmt is Format.json:
        typer.echo(as_json(found.as_dict()))
    else:
        typer.echo(f"{found.path}: {found.fs}, label {found.label!r}, layout {found.layout}")
        for name, size in found.files.items():
            typer.echo(f"  {size:>9}  {name}")
        for line in found.reads:
            typer.echo(f"reads: {line}")
        for line in found.rejects:
            typer.echo(f"rejects: {line}")
    if found.rejects:
        raise typer.Exit(1)


@app.command()
def configdrive(
    server: Annotated[
        str, typer.Argument(help="id, name or libvirt domain name; or 'inspect' and a PATH")
    ],
    path: Annotated[str | None, typer.Argument(help="with 'inspect': the image to read")] = None,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="where to write the image")
    ] = None,
    fs: Annotated[FileSystem, typer.Option("--fs", help="file system")] = FileSystem.iso9660,
    layout: Annotated[
        Layout, typer.Option("--layout", help="config-2 (OpenStack) or nocloud (cidata)")
    ] = Layout.config_2,
    vendor_dir: VendorDirOption = None,
    dhcp_domain: DhcpDomainOption = DEFAULT_DHCP_DOMAIN,
    fmt: FormatOption = Format.table,
) -> None:
    """Write SERVER's config drive to --output; 'configdrive inspect PATH' reads any drive.

    The image depends only on the data: rebuilding an unchanged server leaves the file
    alone. 'inspect' lists a drive's files and says what a guest would read and reject
    (exit 1 when it would reject something). A server named 'inspect' is given by its id.
    """
    from guestmeta.documents import DocumentOptions, VendorData, VendorDataError

    if server == "inspect" and path is not None:
        _inspect(path, fmt)
        return
    if path is not None:
        fail(f"guestmeta configdrive: unexpected argument {path!r} (see --help)")
    if output is None:
        fail("guestmeta configdrive: --output PATH is required")
    from guestmeta.drives import build_drive, write_drive

    try:
        vendor = VendorData.from_dir(vendor_dir)
    except VendorDataError as exc:
        fail(f"guestmeta: {exc}")
    topology, server_id = load_server(server)
    try:
        options = DocumentOptions(dhcp_domain=dhcp_domain, vendor=vendor)
        data = build_drive(topology, server_id, fs=fs, layout=layout, options=options)
        written = write_drive(output, data)
    except (DriveError, VendorDataError) as exc:
        fail(f"guestmeta: {exc}")
    except OSError as exc:
        fail(f"guestmeta: cannot write {output}: {exc.strerror or exc}")
    result = {"path": output, "bytes": len(data), "written": written}
    if fmt is Format.json:
        typer.echo(as_json(result))
    else:
        state = "written" if written else "unchanged"
        typer.echo(f"{output}: {len(data)} bytes, {layout} on {fs}, {state}")
