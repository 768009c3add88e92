"""What a guest makes of a drive: which files it reads, and what it would reject.

Works on any config drive (ours, Nova's, one made by genisoimage or cloud-localds): the
image is read back (:mod:`guestmeta.drives.read`), its layout recognised by its label,
and each file a guest reads is checked the way the guest checks it:

- ``config-2``: cloud-init finds the drive by the exact label (``config-2``, or
  ``CONFIG-2`` on vfat), reads the newest dated ``openstack/<version>`` it knows (it
  knows up to ``2018-08-27``), else ``latest``; glean, cloudbase-init and afterburn read
  ``latest``. meta_data.json must be a JSON object with a ``uuid``; ``random_seed`` must
  be base64; network_data.json and the vendor data must be JSON.
- ``cidata`` (NoCloud, any case): ``meta-data`` must be a YAML mapping with
  ``instance-id``, ``user-data`` must exist (it may be empty), ``network-config`` must be
  a version 1 or 2 document (a top-level ``network:`` wrapper is accepted).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from guestmeta.documents.versions import OPENSTACK_VERSIONS
from guestmeta.drives.read import Image, read_image

# The dated versions Debian 12's cloud-init (22.4) knows, oldest first: up to 2018-08-27.
CLOUD_INIT_VERSIONS = tuple(v for v in OPENSTACK_VERSIONS if v <= "2018-08-27")


@dataclass
class Inspection:
    path: str
    fs: str
    label: str
    layout: str | None  # "config-2", "nocloud" or None (a guest would not look at it)
    files: dict[str, int]  # path -> size
    reads: list[str] = field(default_factory=list)
    rejects: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "fs": self.fs,
            "label": self.label,
            "layout": self.layout,
            "files": self.files,
            "reads": self.reads,
            "rejects": self.rejects,
        }


def _json(files: dict[str, bytes], path: str, rejects: list[str]) -> Any:
    try:
        return json.loads(files[path])
    except (ValueError, UnicodeDecodeError) as exc:
        rejects.append(f"{path}: not JSON ({exc})")
        return None


def _config2(image: Image, found: Inspection) -> None:
    files = image.files
    if image.label != "config-2" and not (image.fs == "vfat" and image.label == "CONFIG-2"):
        found.rejects.append(f"label {image.label!r}: guests look for exactly 'config-2'")
    dated = [v for v in CLOUD_INIT_VERSIONS if f"openstack/{v}/meta_data.json" in files]
    chosen = dated[-1] if dated else "latest"
    found.reads.append(f"cloud-init reads openstack/{chosen}")
    if "openstack/latest/meta_data.json" in files:
        found.reads.append("glean, cloudbase-init and afterburn read openstack/latest")
    else:
        found.rejects.append("openstack/latest/meta_data.json missing: glean, cloudbase-init fail")
    for version in sorted({chosen, "latest"}):
        base = f"openstack/{version}"
        meta_path = f"{base}/meta_data.json"
        if meta_path not in files:
            if version == chosen:
                found.rejects.append(f"{meta_path} missing: cloud-init finds no metadata")
            continue
        meta = _json(files, meta_path, found.rejects)
        if meta is not None and not (isinstance(meta, dict) and meta.get("uuid")):
            found.rejects.append(f"{meta_path}: no uuid (cloud-init requires one)")
        elif isinstance(meta, dict) and "random_seed" in meta:
            try:
                base64.b64decode(meta["random_seed"], validate=True)
            except (binascii.Error, TypeError):
                found.rejects.append(f"{meta_path}: random_seed is not base64")
        for name in ("network_data.json", "vendor_data.json", "vendor_data2.json"):
            if f"{base}/{name}" in files:
                _json(files, f"{base}/{name}", found.rejects)


def _nocloud(image: Image, found: Inspection) -> None:
    files = image.files
    for name in ("meta-data", "user-data"):
        if name not in files:
            found.rejects.append(f"{name} missing: cloud-init's NoCloud source requires it")
    found.reads.append(
        "cloud-init (NoCloud) reads "
        + ", ".join(
            n for n in ("meta-data", "user-data", "vendor-data", "network-config") if n in files
        )
    )
    if "meta-data" in files:
        try:
            meta = yaml.safe_load(files["meta-data"])
        except yaml.YAMLError as exc:
            found.rejects.append(f"meta-data: not YAML ({' '.join(str(exc).split())})")
        else:
            if not isinstance(meta, dict) or not meta.get("instance-id"):
                found.rejects.append("meta-data: no instance-id")
    if "network-config" in files:
        try:
            net = yaml.safe_load(files["network-config"])
        except yaml.YAMLError as exc:
            found.rejects.append(f"network-config: not YAML ({' '.join(str(exc).split())})")
            return
        if isinstance(net, dict) and isinstance(net.get("network"), dict):
            net = net["network"]
        if not isinstance(net, dict) or net.get("version") not in (1, 2):
            found.rejects.append("network-config: not a version 1 or 2 network config")


def inspect_drive(path: str | os.PathLike[str]) -> Inspection:
    """Read the drive at ``path`` and judge it as guests would; ReadError if unreadable."""
    image = read_image(path)
    label = image.label
    layout = (
        "config-2"
        if label.lower() == "config-2"
        else "nocloud"
        if label.lower() == "cidata"
        else None
    )
    found = Inspection(
        str(path), image.fs, label, layout, {p: len(d) for p, d in image.files.items()}
    )
    if layout == "config-2":
        _config2(image, found)
    elif layout == "nocloud":
        _nocloud(image, found)
    else:
        found.rejects.append(
            f"label {label!r}: guests look for 'config-2' or 'cidata'; they ignore this drive"
        )
    return found
