"""The document tree: every file a guest can read about itself, by path, as bytes.

The metadata service and the config drive both serve this tree, so the two can never
disagree. Paths are relative, without a leading slash:

- ``openstack/<version>/meta_data.json``, ``user_data`` (only when set),
  ``vendor_data.json`` (from 2013-10-17), ``network_data.json`` (from 2015-10-15, only
  when the server has ports), ``vendor_data2.json`` (from 2016-10-06), for every dated
  version and ``latest``;
- ``ec2/<version>/meta-data.json`` (flat JSON) and ``ec2/<version>/user-data`` for the
  versions a config drive carries.

:func:`ec2_tree` is the EC2 layout the HTTP service walks (``<version>/meta-data/...``).
The password is not part of either: guests post it, so the service keeps it apart.
"""

from __future__ import annotations

import json
from typing import Any

from guestmeta.documents import versions
from guestmeta.documents.ec2 import ec2_meta_data, listing, walk
from guestmeta.documents.meta_data import meta_data, new_random_seed
from guestmeta.documents.network_data import network_data
from guestmeta.documents.vendor_data import VENDOR_DATA, VENDOR_DATA2, VendorData
from guestmeta.model import Topology

Tree = dict[str, bytes]


def encode(document: Any) -> bytes:
    """A JSON document as served: compact, UTF-8, keys in the order they were built."""
    return json.dumps(document, ensure_ascii=False).encode()


def document_tree(
    topology: Topology,
    server_id: str,
    vendor: VendorData | None = None,
    *,
    random_seed: bytes | None = None,
) -> Tree:
    """Every OpenStack and drive EC2 file of one server; ``random_seed`` fixes the seed."""
    server = topology.servers[server_id]
    seed = new_random_seed() if random_seed is None else random_seed
    vendor_docs = (vendor or VendorData()).for_server(server.project_id, server_id)
    vendor1, vendor2 = encode(vendor_docs[VENDOR_DATA]), encode(vendor_docs[VENDOR_DATA2])
    network = network_data(topology, server_id)
    network_bytes = encode(network) if network is not None else None
    tree: Tree = {}
    for version in versions.openstack_versions():
        base = f"openstack/{version}"
        tree[f"{base}/meta_data.json"] = encode(
            meta_data(topology, server_id, version, random_seed=seed)
        )
        if server.user_data is not None:
            tree[f"{base}/user_data"] = server.user_data
        if versions.has(version, versions.VENDOR_DATA):
            tree[f"{base}/{VENDOR_DATA}"] = vendor1
        if network_bytes is not None and versions.has(version, versions.NETWORK_DATA):
            tree[f"{base}/network_data.json"] = network_bytes
        if versions.has(version, versions.VENDOR_DATA2):
            tree[f"{base}/{VENDOR_DATA2}"] = vendor2
    for version in versions.EC2_DRIVE_VERSIONS:
        tree[f"ec2/{version}/meta-data.json"] = encode(ec2_meta_data(topology, server_id, version))
        if server.user_data is not None:
            tree[f"ec2/{version}/user-data"] = server.user_data
    return tree


def ec2_tree(topology: Topology, server_id: str) -> Tree:
    """The EC2 service layout: ``<version>/`` and every directory as listings, leaves as values.

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
        meta = ec2_meta_data(topology, server_id, version)
        tree.update(walk(f"{version}/meta-data", meta))
    return tree
