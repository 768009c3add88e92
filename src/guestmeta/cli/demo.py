"""``guestmeta demo``: boot one server of the store as a real guest and show the whole system."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from guestmeta.cli.common import ConnectOption, app, fail, store_url


@app.command()
def demo(
    server: Annotated[str, typer.Argument(help="id, name or domain name")] = "web",
    connect: ConnectOption = None,
    hold: Annotated[
        bool | None,
        typer.Option(
            "--hold/--no-hold",
            help="keep everything running until Ctrl-C [default: when run on a terminal]",
        ),
    ] = None,
) -> None:
    """Boot SERVER as a small Debian guest with the agent, the metadata service and the
    exporter, and print what an operator looks at; Ctrl-C stops all it started.

    The guest is a cached Debian 12 image with cloud-init, built on first use with
    mmdebstrap from this machine's apt sources; it runs under QEMU (TCG when there is no
    KVM), with the server's ports as user-network NICs. Needs root and a libvirtd.
    """
    from guestmeta.demo.run import on_sigterm_interrupt, run_demo
    from guestmeta.libvirt.connection import uri_or_default

    keep = sys.stdin.isatty() if hold is None else hold
    on_sigterm_interrupt()
    try:
        run_demo(store_url(), server, uri=uri_or_default(connect), hold=keep, say=typer.echo)
    except KeyboardInterrupt:
        typer.echo("stopped: the guest, its domain and every process the demo started are gone")
        raise typer.Exit(130) from None
    except RuntimeError as exc:  # DemoError, GuestError, a failed image build or process
        fail(f"guestmeta demo: {exc}")
