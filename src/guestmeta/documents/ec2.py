"""The EC2-style metadata of a server, as Nova gives it, per EC2 version.

Two shapes of the same data: a nested dict (written as flat JSON to a config drive, as
``ec2/<version>/meta-data.json``) and a tree of paths for the HTTP service, where a
directory's listing names its entries and every listed entry exists, because cloud-init
crawls all of them and retries what answers 404.

EC2 ids are derived, never random, so that they stay the same across renders: the
instance id is ``i-`` and the hex number of a Nova-style domain name
(``instance-0000002a`` -> ``i-0000002a``, what Nova itself reports), otherwise the start
of the server id; ``ami-`` likewise from the image id (Nova numbers images in its own
database). ``reservation-id`` and ``security-groups`` come from the server's API body.
Leaves the store cannot fill truthfully are left out, where Nova serves something else:
``public-ipv4`` without a floating IP (Nova: empty), ``local-ipv4`` without a fixed IPv4
address (Nova: the caller's address, which behind a proxy is not the guest's).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from typing import Any

from guestmeta.documents import versions
from guestmeta.documents.meta_data import availability_zone, hostname
from guestmeta.documents.options import DocumentOptions
from guestmeta.model import Port, Server, Topology, TopologyIndex

_NOVA_DOMAIN = re.compile(r"^instance-([0-9a-f]{8})$")
_HEX = re.compile(r"^[0-9a-f]{8,}$")
KEY_NAME = "_name"  # a directory's name in its parent's listing, as Nova marks it
# What Nova reports for a server whose ports have no other group: Neutron's default.
DEFAULT_SECURITY_GROUPS = ("default",)


def ec2_id(prefix: str, value: str | None) -> str:
    """``prefix-xxxxxxxx`` from an id: its first 8 hex digits, or a hash of it."""
    if not value:
        return f"{prefix}-00000000"
    digits = value.replace("-", "").lower()
    if not _HEX.match(digits):
        digits = hashlib.sha256(value.encode()).hexdigest()
    return f"{prefix}-{digits[:8]}"


def instance_id(server: Server) -> str:
    match = _NOVA_DOMAIN.match(server.domain_name)
    return f"i-{match.group(1)}" if match else ec2_id("i", server.id)


def _addresses(index: TopologyIndex, ports: tuple[Port, ...]) -> tuple[str | None, str | None]:
    """The first fixed IPv4 address and the floating IPv4 mapped to it (or to any address):
    EC2's ``local-ipv4`` and ``public-ipv4`` are IPv4 only."""
    local: str | None = None
    for port in ports:
        for fixed in port.fixed_ips:
            if ipaddress.ip_address(fixed.ip_address).version == 4:
                local = fixed.ip_address
                break
        if local:
            break
    floating = sorted(
        (fip.fixed_ip_address != local, fip.floating_ip_address)
        for port in ports
        for fip in index.floating_ips(port.id)
        if ipaddress.ip_address(fip.floating_ip_address).version == 4
    )
    return local, floating[0][1] if floating else None


def _block_device_mapping(server: Server) -> dict[str, str]:
    """The disks of a libvirt guest on virtio as Nova names them: root, then ephemeral, swap."""
    mapping = {"ami": "vda", "root": "/dev/vda"}
    letters = iter("bcdefgh")
    if server.flavor.ephemeral:
        mapping["ephemeral0"] = f"/dev/vd{next(letters)}"
    if server.flavor.swap:
        mapping["swap"] = f"/dev/vd{next(letters)}"
    return mapping


def reservation_id(server: Server) -> str:
    """The server's reservation from its API body; else one derived from its id, stable
    across renders (Nova draws one per boot request)."""
    return server.reservation_id or "r-" + hashlib.sha256(server.id.encode()).hexdigest()[:8]


def ec2_meta_data(
    topology: Topology,
    server_id: str,
    version: str = versions.LATEST,
    options: DocumentOptions | None = None,
) -> dict[str, Any]:
    """The ``meta-data`` of ``version`` as a nested dict (Nova's ``get_ec2_metadata``),
    keys in Nova's order (a drive's JSON keeps it; listings sort)."""
    server = topology.servers[server_id]
    host = hostname(topology, server_id, options)
    index = topology.index
    local, public = _addresses(index, index.ports(server_id))
    data: dict[str, Any] = {
        "ami-id": ec2_id("ami", server.image_id),
        "ami-launch-index": server.launch_index,
        "ami-manifest-path": "FIXME",  # what Nova serves: EC2 had S3 manifests, Nova none
        "instance-id": instance_id(server),
        "hostname": host,
    }
    if local is not None:
        data["local-ipv4"] = local
    data["reservation-id"] = reservation_id(server)
    data["security-groups"] = list(server.security_groups or DEFAULT_SECURITY_GROUPS)
    keypair = index.keypair(server)
    if keypair is not None:
        data["public-keys"] = {
            "0": {KEY_NAME: f"0={keypair.name}", "openssh-key": keypair.public_key}
        }
    if versions.has(version, "2007-01-19"):
        data["local-hostname"] = host
        data["public-hostname"] = host
        if public is not None:
            data["public-ipv4"] = public
    if versions.has(version, "2007-08-29"):
        data["instance-type"] = server.flavor.name
    if versions.has(version, "2007-12-15"):
        data["block-device-mapping"] = _block_device_mapping(server)
    if versions.has(version, "2008-02-01"):
        data["placement"] = {"availability-zone": availability_zone(server)}
    if versions.has(version, "2008-09-01"):
        data["instance-action"] = "none"
    return data


def listing(data: dict[str, Any]) -> bytes:
    """A directory's listing: entries sorted, sub-directories with ``/`` or their ``_name``."""
    lines = []
    for key in sorted(data):
        if key == KEY_NAME:
            continue
        value = data[key]
        if isinstance(value, dict):
            lines.append(value.get(KEY_NAME, f"{key}/"))
        else:
            lines.append(key)
    return "\n".join(lines).encode()


def leaf(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, list):
        return "\n".join(str(v) for v in value).encode()
    return str(value).encode()


def walk(prefix: str, data: dict[str, Any]) -> dict[str, bytes]:
    """Paths -> bytes: ``prefix/`` is the listing, each leaf its value, sub-directories alike."""
    out = {f"{prefix}/": listing(data)}
    for key, value in data.items():
        if key == KEY_NAME:
            continue
        if isinstance(value, dict):
            out.update(walk(f"{prefix}/{key}", value))
        else:
            out[f"{prefix}/{key}"] = leaf(value)
    return out
