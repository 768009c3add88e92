"""The document trees: every file a guest can read about itself, by path.

The metadata service and the config drive are built from the same functions here, so
the two can never disagree.

:func:`document_tree` is what a config drive holds (Nova's ``metadata_for_config_drive``),
paths relative, without a leading slash:

- ``openstack/<version>/meta_data.json``, ``user_data`` (only when set),
  ``vendor_data.json`` (from 2013-10-17), ``network_data.json`` (from 2015-10-15, only
  when the server has ports), ``vendor_data2.json`` (from 2016-10-06), for every dated
  version and ``latest``;
- ``ec2/<version>/meta-data.json`` (flat JSON) and ``ec2/<version>/user-data`` for the
  versions a config drive carries.

:func:`service_tree` is what the HTTP service answers, as Nova's metadata app does: keys
are request paths without leading or trailing slash (``""`` is ``/``), each a
:class:`Document` with Nova's body and content type, listings included (``/`` lists the
EC2 versions, ``openstack`` the OpenStack ones, ``openstack/<v>`` that version's files,
``<v>`` and every EC2 directory their entries). ``password`` is listed from 2013-04-04 but
has no entry: guests post it, so the service serves it from the store.

JSON is written as Nova writes it (Python's ``json.dumps`` defaults: ``", "`` and
``": "``, non-ASCII escaped), keys in Nova's order.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from guestmeta.documents import versions
from guestmeta.documents.devices import Devices
from guestmeta.documents.ec2 import ec2_meta_data, listing, walk
from guestmeta.documents.meta_data import (
    RANDOM_SEED_BYTES,
    RANDOM_SEED_PLACEHOLDER,
    meta_data,
    new_random_seed,
)
from guestmeta.documents.network_data import network_data
from guestmeta.documents.options import DocumentOptions
from guestmeta.documents.vendor_data import VENDOR_DATA, VENDOR_DATA2
from guestmeta.model import Topology

Tree = dict[str, bytes]
TEXT = "text/plain; charset=UTF-8"  # what Nova's app (webob) sends for text/plain
JSON = "application/json"
PASSWORD = "password"
_SEED_KEY = b'"random_seed": "'


@dataclass(frozen=True, slots=True)
class Document:
    """One answer of the service: the body and its ``Content-Type``.

    ``seed_at`` is where :data:`RANDOM_SEED_PLACEHOLDER` sits in a ``meta_data.json``
    body (else ``None``): :meth:`with_seed` puts a fresh seed there, per request.
    """

    body: bytes
    content_type: str
    seed_at: int | None = None

    def with_seed(self, seed: bytes) -> bytes:
        """The body with ``seed`` (``RANDOM_SEED_BYTES`` bytes) in the placeholder's place."""
        if self.seed_at is None:
            return self.body
        if len(seed) != RANDOM_SEED_BYTES:
            raise ValueError(f"a random seed is {RANDOM_SEED_BYTES} bytes, not {len(seed)}")
        end = self.seed_at + len(RANDOM_SEED_PLACEHOLDER)
        return self.body[: self.seed_at] + base64.b64encode(seed) + self.body[end:]


def encode(document: Any) -> bytes:
    """A JSON document as Nova serves it (``jsonutils.dump_as_bytes``)."""
    return json.dumps(document).encode()


def _openstack_files(
    topology: Topology, server_id: str, options: DocumentOptions
) -> dict[str, bytes | None]:
    """File name -> bytes for the files every version shares (None: not there)."""
    server = topology.servers[server_id]
    vendor = options.vendor.as_served(server.project_id, server_id)
    network = network_data(topology, server_id)
    return {
        "user_data": server.user_data,
        VENDOR_DATA: encode(vendor[VENDOR_DATA]),
        "network_data.json": encode(network) if network is not None else None,
        VENDOR_DATA2: encode(vendor[VENDOR_DATA2]),
    }


def _present(files: dict[str, bytes | None], name: str) -> bytes:
    body = files[name]
    assert body is not None, name  # _version_files lists only the files there are
    return body


def _version_files(version: str, files: dict[str, bytes | None]) -> list[str]:
    """The files of ``version`` in Nova's listing order (``meta_data.json`` first)."""
    names = ["meta_data.json"]
    if files["user_data"] is not None:
        names.append("user_data")
    if versions.has(version, versions.PASSWORD):
        names.append(PASSWORD)
    if versions.has(version, versions.VENDOR_DATA):
        names.append(VENDOR_DATA)
    if files["network_data.json"] is not None and versions.has(version, versions.NETWORK_DATA):
        names.append("network_data.json")
    if versions.has(version, versions.VENDOR_DATA2):
        names.append(VENDOR_DATA2)
    return names


def document_tree(
    topology: Topology,
    server_id: str,
    options: DocumentOptions | None = None,
    *,
    random_seed: bytes | None = None,
    devices: Devices | None = None,
) -> Tree:
    """Every OpenStack and drive EC2 file of one server; ``random_seed`` fixes the seed."""
    options = options or DocumentOptions()
    server = topology.servers[server_id]
    seed = new_random_seed() if random_seed is None else random_seed
    files = _openstack_files(topology, server_id, options)
    tree: Tree = {}
    for version in versions.EC2_DRIVE_VERSIONS:
        if server.user_data is not None:
            tree[f"ec2/{version}/user-data"] = server.user_data
        # With the listing's "_name" marks: Nova means to drop them but misses (it looks
        # for "public-keys" one level too high), and guests reading the drive ignore them.
        meta = ec2_meta_data(topology, server_id, version, options)
        tree[f"ec2/{version}/meta-data.json"] = encode(meta)
    for version in versions.openstack_versions():
        base = f"openstack/{version}"
        for name in _version_files(version, files):
            if name == "meta_data.json":
                document = meta_data(
                    topology, server_id, version, options=options, random_seed=seed,
                    addresses=devices,
                )  # fmt: skip
                tree[f"{base}/{name}"] = encode(document)
            elif name != PASSWORD:
                tree[f"{base}/{name}"] = _present(files, name)
    return tree


def _text(lines: list[str]) -> Document:
    return Document("\n".join(lines).encode(), TEXT)


def service_tree(
    topology: Topology,
    server_id: str,
    options: DocumentOptions | None = None,
    devices: Devices | None = None,
) -> dict[str, Document]:
    """Every answer of the metadata service for one server, by normalized request path.

    ``meta_data.json`` bodies carry :data:`RANDOM_SEED_PLACEHOLDER` (see
    :meth:`Document.with_seed`); everything else is final bytes, to be cached.
    """
    options = options or DocumentOptions()
    files = _openstack_files(topology, server_id, options)
    tree: dict[str, Document] = {
        "": _text([*versions.EC2_VERSIONS, versions.LATEST]),
        "openstack": _text(list(versions.openstack_versions())),
    }
    placeholder = bytes(RANDOM_SEED_BYTES)
    for version in versions.openstack_versions():
        base = f"openstack/{version}"
        names = _version_files(version, files)
        tree[base] = _text(names)
        for name in names:
            if name == "meta_data.json":
                document = meta_data(
                    topology, server_id, version, options=options, random_seed=placeholder,
                    addresses=devices,
                )  # fmt: skip
                body = encode(document)
                # Found by its key, so a look-alike in a user's value can never be taken.
                at = body.find(_SEED_KEY + RANDOM_SEED_PLACEHOLDER)
                seed_at = at + len(_SEED_KEY) if at >= 0 else None
                tree[f"{base}/{name}"] = Document(body, JSON, seed_at)
            elif name != PASSWORD:
                kind = JSON if name in (VENDOR_DATA, VENDOR_DATA2) else TEXT
                tree[f"{base}/{name}"] = Document(_present(files, name), kind)
    for path, body in ec2_tree(topology, server_id, options).items():
        tree[path.rstrip("/")] = Document(body, TEXT)
    return tree


def ec2_tree(topology: Topology, server_id: str, options: DocumentOptions | None = None) -> Tree:
    """The EC2 service layout as bytes: ``<version>/`` and every directory as listings.

    Directory paths end in ``/`` and hold their listing (sub-directories end in ``/``, a
    public key shows as ``0=name``); every listed entry is a path of the tree.
    """
    server = topology.servers[server_id]
    tree: Tree = {}
    for version in versions.ec2_versions():
        top: dict[str, Any] = {"meta-data": {}}
        if server.user_data is not None:
            top["user-data"] = server.user_data
            tree[f"{version}/user-data"] = server.user_data
        tree[f"{version}/"] = listing(top)
        meta = ec2_meta_data(topology, server_id, version, options)
        tree.update(walk(f"{version}/meta-data", meta))
    return tree
