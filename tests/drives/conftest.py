"""Drives of the matrix's server, and helpers to unpack one into a directory."""

from __future__ import annotations

from pathlib import Path

from guestmeta.documents import Tree, document_tree
from guestmeta.drives import drive_seed
from tests.documents.topologies import BY_NAME, SERVER, SERVER_ID, Case

# Bonds, VLANs, two ports, user data, a keypair: the richest server of the matrix.
CASE: Case = BY_NAME["bond_vlan"]


def tree_of(case: Case = CASE) -> Tree:
    """The service's tree of the matrix server, with the seed a drive carries."""
    return document_tree(case.topology, SERVER_ID, random_seed=drive_seed(SERVER))


def unpack(files: dict[str, bytes], root: Path) -> Path:
    """Write ``files`` (relative path -> bytes) under ``root``, as a mounted drive shows them."""
    for path, data in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root
