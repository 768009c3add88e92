"""meta_data.json: who the server is (id, names, keys, metadata, NICs), per version.

cloud-init needs ``uuid`` and reads ``hostname`` and ``public_keys``; glean takes the host
name from ``name``; cloudbase-init reads ``keys``. Each version holds only the keys it
had (``random_seed`` from 2013-04-04, ``project_id`` from 2015-10-15, ``devices`` from
2016-06-30), because a guest asking for an old version may reject what it does not know.

``random_seed`` is 512 bytes, base64-encoded as Nova does (bad base64 fails cloud-init);
the caller passes the bytes so that a config drive or a test can fix them. ``devices``
lists one ``nic`` per port with its MAC and no tags; the PCI bus and address are left
out because the store does not know them, and a wrong address is worse than none.
Nova's ``dedicated_cpus`` (2020-10-14) is left out for the same reason: which host CPUs
a pinned guest runs on is libvirt's choice, not the store's.
"""

from __future__ import annotations

import base64
import os
from typing import Any

from guestmeta.documents import versions
from guestmeta.model import Server, Topology
from guestmeta.model.server import sanitize_hostname

RANDOM_SEED_BYTES = 512
DEFAULT_AVAILABILITY_ZONE = "nova"  # what Nova reports for a server placed in no zone


def new_random_seed() -> bytes:
    """Fresh entropy for one guest, as Nova gives it on every request."""
    return os.urandom(RANDOM_SEED_BYTES)


def availability_zone(server: Server) -> str:
    return server.availability_zone or DEFAULT_AVAILABILITY_ZONE


def hostname(topology: Topology, server_id: str) -> str:
    server = topology.servers[server_id]
    return server.hostname or sanitize_hostname(server.name)


def public_keys(topology: Topology, server_id: str) -> dict[str, str]:
    """Key name -> public key: the server's keypair, if any (Nova gives one)."""
    keypair = topology.index.keypair(topology.servers[server_id])
    return {keypair.name: keypair.public_key} if keypair is not None else {}


def meta_data(
    topology: Topology,
    server_id: str,
    version: str = versions.LATEST,
    *,
    random_seed: bytes | None = None,
) -> dict[str, Any]:
    """The server's meta_data.json for ``version``; ``random_seed`` defaults to fresh bytes."""
    server = topology.servers[server_id]
    keypair = topology.index.keypair(server)
    data: dict[str, Any] = {
        "uuid": server.id,
        "name": server.name,
        "hostname": hostname(topology, server_id),
        "launch_index": server.launch_index,
        "availability_zone": availability_zone(server),
    }
    if versions.has(version, versions.PROJECT_ID):
        data["project_id"] = server.project_id
    data["public_keys"] = public_keys(topology, server_id)
    data["keys"] = (
        [{"name": keypair.name, "type": keypair.type, "data": keypair.public_key}]
        if keypair is not None
        else []
    )
    data["meta"] = dict(sorted(server.metadata.items()))
    if versions.has(version, versions.DEVICES):
        data["devices"] = [
            {"type": "nic", "mac": port.mac_address, "tags": []}
            for port in topology.index.ports(server_id)
        ]
    if versions.has(version, versions.RANDOM_SEED):
        seed = new_random_seed() if random_seed is None else random_seed
        data["random_seed"] = base64.b64encode(seed).decode("ascii")
    return data
