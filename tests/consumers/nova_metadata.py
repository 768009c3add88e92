"""Nova's metadata service and config drive as an oracle for our document trees.

For a server of our topology this builds what Nova would hold for it (the
``objects.Instance`` fields its ``InstanceMetadata`` reads, the keypair, the NIC device
metadata its libvirt driver records, and ``network_info`` from :mod:`tests.consumers.nova`)
and asks Nova's own code, in the consumers' environment
(``scripts/nova_metadata.py``):

- :func:`nova_http`: Nova's WSGI app (``MetadataRequestHandler``, driven with webob
  requests) answers each (method, path), with its caller lookup patched to this
  instance; :func:`nova_crawl` walks every listing from ``/`` and ``/openstack/``, so the
  paths come from Nova, not from us;
- :func:`nova_drive`: ``InstanceMetadata.metadata_for_config_drive()`` as ``{path: bytes}``.

Inputs that Nova takes from its own database are given, not derived by Nova, and so are
not checked by it: the EC2 ids (``i-``/``ami-`` numbers of Nova's id mappings; ours are
derived as :mod:`guestmeta.documents.ec2` says), a reservation id missing from the
server's API body, the availability zone of a server placed in none (Nova records the
zone it lands in, ``nova`` by default), and the device names of root, ephemeral and swap
disks (``/dev/vda``, then ``vdb``, ``vdc`` as Nova's libvirt driver names virtio disks).
Nova's configuration keeps its defaults except the options a test sets on both sides.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

from guestmeta.documents import DeviceAddress, DocumentOptions
from guestmeta.documents.ec2 import DEFAULT_SECURITY_GROUPS, ec2_id, instance_id, reservation_id
from guestmeta.documents.meta_data import availability_zone
from guestmeta.model import Server, Topology
from guestmeta.model.server import sanitize_hostname
from tests.consumers import nova
from tests.consumers._run import run_script

_NOVA_DOMAIN = re.compile(r"^instance-([0-9a-f]{8})$")
ROOT_DEVICE = "/dev/vda"
CALLER = "192.0.2.1"  # the caller's address Nova is told (local-ipv4 without an IPv4)


@dataclass(frozen=True)
class Answer:
    """One answer of Nova's app."""

    method: str
    path: str
    status: int
    content_type: str | None
    body: bytes


def _disks(server: Server) -> dict[str, str]:
    letters = iter("bcdefgh")
    disks = {}
    if server.flavor.ephemeral:
        disks["default_ephemeral_device"] = f"/dev/vd{next(letters)}"
    if server.flavor.swap:
        disks["default_swap_device"] = f"/dev/vd{next(letters)}"
    return disks


def instance(topology: Topology, server_id: str) -> dict[str, Any]:
    """The fields of Nova's ``objects.Instance`` that its metadata reads, for our server."""
    server = topology.servers[server_id]
    keypair = topology.index.keypair(server)
    match = _NOVA_DOMAIN.match(server.domain_name)
    flavor = server.flavor
    return {
        "id": int(match.group(1), 16) if match else 1,
        "uuid": server.id,
        "hostname": server.hostname or sanitize_hostname(server.name),
        "display_name": server.name,
        "launch_index": server.launch_index,
        "availability_zone": availability_zone(server),
        "project_id": server.project_id,
        "user_id": server.user_id,
        "key_name": server.key_name if keypair is not None else None,
        "key_data": keypair.public_key if keypair is not None else None,
        "keypair": None
        if keypair is None
        else {"name": keypair.name, "public_key": keypair.public_key, "type": keypair.type},
        "metadata": dict(server.metadata),
        "user_data": None
        if server.user_data is None
        else base64.b64encode(server.user_data).decode(),
        "reservation_id": reservation_id(server),
        "security_groups": list(server.security_groups or DEFAULT_SECURITY_GROUPS),
        "root_device_name": ROOT_DEVICE,
        **_disks(server),
        "flavor": {
            "name": flavor.name,
            "id": flavor.id or flavor.name,
            "vcpus": flavor.vcpus,
            "ram": flavor.ram,
            "disk": flavor.disk,
            "ephemeral": flavor.ephemeral,
            "swap": flavor.swap,
            "extra_specs": dict(flavor.extra_specs),
        },
        "ec2_ids": {"instance_id": instance_id(server), "ami_id": ec2_id("ami", server.image_id)},
    }


def device_metadata(
    topology: Topology, server_id: str, addresses: dict[str, DeviceAddress] | None
) -> list[dict[str, Any]]:
    """What Nova's libvirt driver records per NIC: only tagged or VLAN NICs, with the
    PCI address libvirt gave the interface (none known: no bus, as Nova then has)."""
    out = []
    for port in topology.index.ports(server_id):
        if not (port.tag or port.vlan):
            continue
        where = (addresses or {}).get(port.mac_address)
        out.append(
            {
                "mac": port.mac_address,
                "tags": [port.tag] if port.tag else None,
                "vlan": port.vlan,
                "address": where.address if where is not None else None,
            }
        )
    return out


def _options(options: DocumentOptions | None) -> dict[str, Any]:
    """Nova's configuration for our options: ``dhcp_domain`` and the static vendor data
    (our global vendor_data.json, which is what Nova's static provider reads)."""
    options = options or DocumentOptions()
    out: dict[str, Any] = {"dhcp_domain": options.dhcp_domain}
    if options.vendor.root is not None:
        out["vendordata"] = options.vendor.merged("vendor_data.json", None, "")
    return out


def _server(
    topology: Topology,
    server_id: str,
    requests: list[tuple[str, str]],
    *,
    crawl: bool,
    drive: bool,
    addresses: dict[str, DeviceAddress] | None,
) -> dict[str, Any]:
    return {
        "instance": instance(topology, server_id),
        "network_info": nova.network_info(topology, server_id),
        "devices": device_metadata(topology, server_id, addresses),
        "address": CALLER,
        "requests": [list(r) for r in requests],
        "crawl": crawl,
        "drive": drive,
    }


def _run(options: DocumentOptions | None, servers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = run_script(
        "nova_metadata.py", {"options": _options(options), "servers": servers}
    )
    return result


def _answers(raw: dict[str, Any]) -> list[Answer]:
    return [
        Answer(a["method"], a["path"], a["status"], a["content_type"], base64.b64decode(a["body"]))
        for a in raw["http"]
    ]


def nova_http(
    topology: Topology,
    server_id: str,
    requests: list[tuple[str, str]],
    options: DocumentOptions | None = None,
    addresses: dict[str, DeviceAddress] | None = None,
) -> list[Answer]:
    """Nova's answer to each (method, path), in order."""
    raw = _run(
        options,
        [_server(topology, server_id, requests, crawl=False, drive=False, addresses=addresses)],
    )
    return _answers(raw[0])


def nova_crawl(
    jobs: list[tuple[Topology, str]],
    options: DocumentOptions | None = None,
    addresses: dict[str, DeviceAddress] | None = None,
) -> list[tuple[dict[str, Answer], dict[str, bytes]]]:
    """For each (topology, server id), in one Nova interpreter: every path Nova's listings
    lead to, by path as requested (``/openstack/latest/meta_data.json``, listings with
    their trailing slash), and its config drive ``{path: bytes}``."""
    servers = [
        _server(topology, sid, [], crawl=True, drive=True, addresses=addresses)
        for topology, sid in jobs
    ]
    config = _options(options)
    keys = [json.dumps({"options": config, "server": s}, sort_keys=True) for s in servers]
    # Crawling takes Nova about a second a server; tests that ask for the same server
    # with the same inputs share one crawl.
    missing = {key: server for key, server in zip(keys, servers, strict=True) if key not in _CRAWLS}
    if missing:
        for key, raw in zip(missing, _run(options, list(missing.values())), strict=True):
            http = {a.path: a for a in _answers(raw)}
            drive = {p: base64.b64decode(b) for p, b in raw["drive"].items()}
            _CRAWLS[key] = (http, drive)
    return [_CRAWLS[key] for key in keys]


_CRAWLS: dict[str, tuple[dict[str, Answer], dict[str, bytes]]] = {}


def nova_drive(
    topology: Topology, server_id: str, options: DocumentOptions | None = None
) -> dict[str, bytes]:
    """``InstanceMetadata.metadata_for_config_drive()`` as ``{path: bytes}``."""
    raw = _run(options, [_server(topology, server_id, [], crawl=False, drive=True, addresses=None)])
    return {p: base64.b64decode(b) for p, b in raw[0]["drive"].items()}
