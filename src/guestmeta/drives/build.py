"""A server's config drive as bytes: the library call behind the CLI and the agent.

The same data always gives the same bytes, so an unchanged drive is never rewritten and
an operator can tell from a checksum when one really changed:

- the file system's time stamps are the server's creation time;
- entries go in sorted order;
- ``random_seed`` in meta_data.json is derived from the server (SHAKE-256 of its id and
  creation time, 512 bytes) instead of fresh entropy. A drive that changed on every build
  would be rewritten and swapped under the guest for nothing. The seed is only one of the
  inputs a guest mixes into its pool (cloud-init writes it to ``/dev/urandom``, which
  cannot lower the entropy already there); fresh entropy comes from virtio-rng and the
  metadata service, which still answers with new bytes on every request.
"""

from __future__ import annotations

import hashlib

from guestmeta.documents import RANDOM_SEED_BYTES, DocumentOptions, Tree, document_tree
from guestmeta.drives.iso import build_iso
from guestmeta.drives.kinds import LABELS, DriveError, FileSystem, Layout
from guestmeta.drives.layout import files_of
from guestmeta.drives.vfat import build_vfat
from guestmeta.model import Server, Topology

MAX_USER_DATA = 64 * 1024  # Nova's limit on user data
MAX_DRIVE = 64 * 1024 * 1024  # Nova's size of a vfat drive; no drive of ours is larger


def drive_seed(server: Server) -> bytes:
    """The ``random_seed`` a drive carries: the same for the same server, see above."""
    shake = hashlib.shake_256(b"guestmeta drive random_seed\0")
    shake.update(f"{server.id}\0{server.created.isoformat()}".encode())
    return shake.digest(RANDOM_SEED_BYTES)


def drive_tree(topology: Topology, server_id: str, options: DocumentOptions | None = None) -> Tree:
    """The document tree a drive holds: the service's tree with the drive's seed."""
    server = topology.servers[server_id]
    if server.user_data is not None and len(server.user_data) > MAX_USER_DATA:
        raise DriveError(
            f"server {server.name} ({server.id}): user data is {len(server.user_data)} bytes,"
            f" more than {MAX_USER_DATA}"
        )
    return document_tree(topology, server_id, options, random_seed=drive_seed(server))


def image(files: dict[str, bytes], layout: Layout, fs: FileSystem, server: Server) -> bytes:
    """The image of ``files`` as a drive of ``layout`` on ``fs``, stamped from ``server``."""
    at = server.created.timestamp()
    label = LABELS[layout]
    if fs is FileSystem.iso9660:
        data = build_iso(files, label, at)
    else:
        serial = int.from_bytes(hashlib.sha256(server.id.encode()).digest()[:4], "big")
        data = build_vfat(files, label, at, serial)
    if len(data) > MAX_DRIVE:
        raise DriveError(
            f"server {server.name} ({server.id}): the drive would be {len(data)} bytes,"
            f" more than {MAX_DRIVE}"
        )
    return data


def build_drive(
    topology: Topology,
    server_id: str,
    *,
    fs: FileSystem = FileSystem.iso9660,
    layout: Layout = Layout.config_2,
    options: DocumentOptions | None = None,
) -> bytes:
    """The config drive of one server as image bytes (ISO 9660 ``config-2`` by default)."""
    files = files_of(drive_tree(topology, server_id, options), layout)
    return image(files, layout, fs, topology.servers[server_id])
