"""``guestmeta render``: print one server's documents as guests and libvirt will see them."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from guestmeta.cli.common import fail, load_server
from guestmeta.documents import (
    LATEST,
    DocumentOptions,
    VendorData,
    VendorDataError,
    ec2_meta_data,
    meta_data,
    network_data,
    versions,
)
from guestmeta.documents.options import DEFAULT_DHCP_DOMAIN
from guestmeta.documents.vendor_data import VENDOR_DATA, VENDOR_DATA2

render_app = typer.Typer(
    help="Print a server's documents (network_data.json, meta_data.json, domain metadata, ...).",
    no_args_is_help=True,
)

ServerArg = Annotated[str, typer.Argument(help="id, name or libvirt domain name")]
VendorDirOption = Annotated[
    str | None,
    typer.Option(
        "--vendor-data",
        envvar="GUESTMETA_VENDOR_DATA",
        help="directory of vendor_data.json / vendor_data2.json files [default: none]",
    ),
]


DhcpDomainOption = Annotated[
    str,
    typer.Option(
        "--dhcp-domain",
        envvar="GUESTMETA_DHCP_DOMAIN",
        help="appended to host names, as Nova's [api] dhcp_domain; '' for none",
    ),
]


def _print(document: object) -> None:
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False))


def _check_version(version: str, known: tuple[str, ...]) -> None:
    if version not in known:
        fail(f"guestmeta: unknown version {version!r}; one of: {', '.join(known)}")


@render_app.command("network-data")
def render_network_data(server: ServerArg) -> None:
    """Print network_data.json; a server without ports has none (exit 1)."""
    topology, server_id = load_server(server)
    document = network_data(topology, server_id)
    if document is None:
        fail(f"guestmeta: server {server} has no ports, so no network_data.json")
    _print(document)


@render_app.command("meta-data")
def render_meta_data(
    server: ServerArg,
    version: Annotated[str, typer.Option(help="OpenStack metadata version")] = LATEST,
    dhcp_domain: DhcpDomainOption = DEFAULT_DHCP_DOMAIN,
) -> None:
    """Print meta_data.json as the guest sees it (random_seed is fresh every time)."""
    _check_version(version, versions.openstack_versions())
    topology, server_id = load_server(server)
    options = DocumentOptions(dhcp_domain=dhcp_domain)
    _print(meta_data(topology, server_id, version, options=options))


@render_app.command("vendor-data")
def render_vendor_data(
    server: ServerArg,
    vendor_dir: VendorDirOption = None,
    v2: Annotated[bool, typer.Option("--v2", help="print vendor_data2.json instead")] = False,
) -> None:
    """Print vendor_data.json (or vendor_data2.json) as guests get it: global, project and
    server files merged; vendor_data2.json holds vendor_data.json under "static"."""
    try:
        vendor = VendorData.from_dir(vendor_dir)
    except VendorDataError as exc:
        fail(f"guestmeta: {exc}")
    topology, server_id = load_server(server)
    server_item = topology.servers[server_id]
    try:
        documents = vendor.as_served(server_item.project_id, server_id)
    except VendorDataError as exc:
        fail(f"guestmeta: {exc}")
    _print(documents[VENDOR_DATA2 if v2 else VENDOR_DATA])


@render_app.command("ec2-meta-data")
def render_ec2_meta_data(
    server: ServerArg,
    version: Annotated[str, typer.Option(help="EC2 metadata version")] = LATEST,
    dhcp_domain: DhcpDomainOption = DEFAULT_DHCP_DOMAIN,
) -> None:
    """Print the EC2 meta-data as a config drive carries it (ec2/<version>/meta-data.json)."""
    _check_version(version, versions.ec2_versions())
    topology, server_id = load_server(server)
    options = DocumentOptions(dhcp_domain=dhcp_domain)
    _print(ec2_meta_data(topology, server_id, version, options))


@render_app.command("domain-metadata")
def render_domain_metadata(server: ServerArg) -> None:
    """Print the <nova:instance> element the agent keeps in the server's libvirt domain."""
    from guestmeta.domainxml import desired, to_xml

    topology, server_id = load_server(server)
    typer.echo(to_xml(desired(topology, server_id)), nl=False)
