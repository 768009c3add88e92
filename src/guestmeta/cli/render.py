"""``guestmeta render``: print one server's documents as guests and libvirt will see them."""

from __future__ import annotations

import typer

render_app = typer.Typer(
    help="Print a server's documents (network_data.json, meta_data.json, domain metadata, ...).",
    no_args_is_help=True,
)
