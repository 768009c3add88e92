"""Which files a drive holds, by layout: OpenStack ``config-2`` or NoCloud ``cidata``.

Both are read from one document tree (``guestmeta.documents.document_tree``), the tree
the metadata service serves, so a drive and the service never disagree:

- ``config-2`` holds the tree as it is: ``openstack/<version>/...`` for every version and
  ``latest``, ``ec2/2009-04-04`` and ``ec2/latest`` (what Nova writes; no password);
- ``nocloud`` holds ``meta-data`` (``instance-id``, ``local-hostname``, ``public-keys``),
  ``user-data`` (empty when the server has none: NoCloud requires the file),
  ``vendor-data`` (the ``cloud-init`` part of vendor_data.json, when there is one) and
  ``network-config`` (version 2, from network_data.json; absent when the server has no
  ports, so cloud-init falls back to DHCP as it does without network_data.json).
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from guestmeta.documents import LATEST, Tree
from guestmeta.drives.kinds import Layout
from guestmeta.drives.network_config import network_config


def _yaml(document: Any) -> bytes:
    text = yaml.safe_dump(document, default_flow_style=False, sort_keys=False, allow_unicode=True)
    return text.encode()


def _vendor_part(vendor_data: dict[str, Any]) -> bytes | None:
    """What cloud-init takes from vendor_data.json: its ``cloud-init`` string or list."""
    part = vendor_data.get("cloud-init")
    if isinstance(part, str):
        return part.encode()
    if isinstance(part, list) and all(isinstance(p, str) for p in part):
        return "\n".join(part).encode()
    return None


def nocloud_files(tree: Tree) -> dict[str, bytes]:
    """The NoCloud seed of the server whose tree this is."""
    base = f"openstack/{LATEST}"
    meta = json.loads(tree[f"{base}/meta_data.json"])
    files: dict[str, bytes] = {}
    meta_data: dict[str, Any] = {
        "instance-id": meta["uuid"],
        "local-hostname": meta["hostname"],
    }
    if meta.get("public_keys"):
        meta_data["public-keys"] = list(meta["public_keys"].values())
    files["meta-data"] = _yaml(meta_data)
    files["user-data"] = tree.get(f"{base}/user_data", b"")
    vendor = _vendor_part(json.loads(tree.get(f"{base}/vendor_data.json", b"{}")))
    if vendor is not None:
        files["vendor-data"] = vendor
    network = tree.get(f"{base}/network_data.json")
    if network is not None:
        files["network-config"] = _yaml(network_config(json.loads(network)))
    return files


def files_of(tree: Tree, layout: Layout) -> dict[str, bytes]:
    """Path (relative, ``/``-separated) -> bytes of every file on a drive of ``layout``."""
    if layout is Layout.config_2:
        return dict(tree)
    return nocloud_files(tree)
