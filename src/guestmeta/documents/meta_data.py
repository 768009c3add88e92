"""meta_data.json: who the server is (id, names, keys, metadata, NICs), per version.

cloud-init needs ``uuid`` and reads ``hostname`` and ``public_keys``; glean takes the host
name from ``name``; cloudbase-init reads ``keys``. Each version holds only the keys it
had (``random_seed`` from 2013-04-04, ``project_id`` from 2015-10-15, ``devices`` from
2016-06-30, ``dedicated_cpus`` from 2020-10-14), because a guest asking for an old
version may reject what it does not know.

Keys in Nova's order, and left out where Nova leaves them out: ``meta`` when the server
has no metadata, ``public_keys`` and ``keys`` when it has no keypair. ``hostname`` carries
the ``dhcp_domain`` of :class:`~guestmeta.documents.options.DocumentOptions`, as Nova's.

``random_seed`` is 512 bytes, base64-encoded as Nova does (bad base64 fails cloud-init);
the caller passes the bytes so that a config drive or a test can fix them, and the
service passes :data:`RANDOM_SEED_PLACEHOLDER`'s bytes to splice a fresh seed in per
request. ``dedicated_cpus`` is ``[]`` as Nova gives it for a guest without pinned CPUs;
for a flavor asking for dedicated CPUs it is left out, because which host CPUs such a
guest runs on is libvirt's choice, not the store's.
"""

from __future__ import annotations

import base64
import os
from typing import Any

from guestmeta.documents import versions
from guestmeta.documents.devices import Devices, devices
from guestmeta.documents.options import DocumentOptions
from guestmeta.model import Server, Topology
from guestmeta.model.server import sanitize_hostname

RANDOM_SEED_BYTES = 512
# What the cached meta_data.json carries where the seed goes: valid base64 of the real
# seed's length, so the service swaps in a fresh seed without re-encoding the document.
RANDOM_SEED_PLACEHOLDER = base64.b64encode(bytes(RANDOM_SEED_BYTES))
DEFAULT_AVAILABILITY_ZONE = "nova"  # what Nova reports for a server placed in no zone


def new_random_seed() -> bytes:
    """Fresh entropy for one guest, as Nova gives it on every request."""
    return os.urandom(RANDOM_SEED_BYTES)


def availability_zone(server: Server) -> str:
    return server.availability_zone or DEFAULT_AVAILABILITY_ZONE


def hostname(topology: Topology, server_id: str, options: DocumentOptions | None = None) -> str:
    """The host name guests read: the server's, plus the ``dhcp_domain`` when one is set."""
    server = topology.servers[server_id]
    host = server.hostname or sanitize_hostname(server.name)
    domain = (options or DocumentOptions()).dhcp_domain
    return f"{host}.{domain}" if domain else host


def public_keys(topology: Topology, server_id: str) -> dict[str, str]:
    """Key name -> public key: the server's keypair, if any (Nova gives one)."""
    keypair = topology.index.keypair(topology.servers[server_id])
    return {keypair.name: keypair.public_key} if keypair is not None else {}


def _pinned(server: Server) -> bool:
    return server.flavor.extra_specs.get("hw:cpu_policy") == "dedicated"


def meta_data(
    topology: Topology,
    server_id: str,
    version: str = versions.LATEST,
    *,
    options: DocumentOptions | None = None,
    random_seed: bytes | None = None,
    addresses: Devices | None = None,
) -> dict[str, Any]:
    """The server's meta_data.json for ``version``; ``random_seed`` defaults to fresh bytes,
    ``addresses`` are the NICs' bus addresses (see :mod:`guestmeta.documents.devices`)."""
    server = topology.servers[server_id]
    keypair = topology.index.keypair(server)
    data: dict[str, Any] = {"uuid": server.id}
    if server.metadata:
        data["meta"] = dict(sorted(server.metadata.items()))
    if keypair is not None:
        data["public_keys"] = {keypair.name: keypair.public_key}
        data["keys"] = [{"name": keypair.name, "type": keypair.type, "data": keypair.public_key}]
    data["hostname"] = hostname(topology, server_id, options)
    data["name"] = server.name
    data["launch_index"] = server.launch_index
    data["availability_zone"] = availability_zone(server)
    if versions.has(version, versions.RANDOM_SEED):
        seed = new_random_seed() if random_seed is None else random_seed
        data["random_seed"] = base64.b64encode(seed).decode("ascii")
    if versions.has(version, versions.PROJECT_ID):
        data["project_id"] = server.project_id
    if versions.has(version, versions.DEVICES):
        data["devices"] = devices(topology, server_id, version, addresses)
    if versions.has(version, versions.DEDICATED_CPUS) and not _pinned(server):
        data["dedicated_cpus"] = []
    return data
