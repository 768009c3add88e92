"""vfat config drives: made without mounting, read back through mtools and cloud-init."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from guestmeta.drives import FileSystem, build_drive, read_image
from tests.consumers import cloudinit
from tests.documents.topologies import SERVER, SERVER_ID
from tests.drives.conftest import CASE, tree_of, unpack


@pytest.fixture(scope="module")
def vfat(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vfat") / "drive.img"
    path.write_bytes(build_drive(CASE.topology, SERVER_ID, fs=FileSystem.vfat))
    return path


def test_mtools_extracts_every_file_of_the_tree(vfat: Path) -> None:
    got = read_image(vfat)
    assert (got.fs, got.label) == ("vfat", "CONFIG-2")
    assert got.files == tree_of()


def test_fsck_finds_a_clean_file_system(vfat: Path) -> None:
    out = subprocess.run(["fsck.fat", "-n", str(vfat)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "differ" not in out.stdout  # boot sector and root directory agree on the label


def test_blkid_sees_the_label(vfat: Path) -> None:
    out = subprocess.run(
        ["blkid", "-p", "-o", "export", str(vfat)], capture_output=True, text=True, check=True
    )
    assert "TYPE=vfat" in out.stdout.split()
    assert "LABEL=CONFIG-2" in out.stdout.split()


def test_same_data_same_bytes(vfat: Path) -> None:
    import time

    time.sleep(1.1)
    assert build_drive(CASE.topology, SERVER_ID, fs=FileSystem.vfat) == vfat.read_bytes()


def test_sized_to_the_content_with_a_floor(vfat: Path) -> None:
    from dataclasses import replace

    from guestmeta.drives.vfat import FLOOR

    assert vfat.stat().st_size == FLOOR + 64 * 1024 - FLOOR % (64 * 1024)
    topology = CASE.topology.copy()
    topology.servers = {SERVER_ID: replace(SERVER, user_data=bytes(range(256)) * 256)}
    big = build_drive(topology, SERVER_ID, fs=FileSystem.vfat)
    assert len(big) > 13 * 64 * 1024  # 13 copies of 64 KiB user data need room
    assert read_image_bytes(big, vfat.parent / "big.img")["openstack/latest/user_data"] == (
        bytes(range(256)) * 256
    )


def read_image_bytes(data: bytes, path: Path) -> dict[str, bytes]:
    path.write_bytes(data)
    return read_image(path).files


@pytest.mark.consumers("cloud-init")
def test_cloud_init_reads_the_vfat_drive(vfat: Path, tmp_path: Path) -> None:
    read = cloudinit.read_drive(unpack(read_image(vfat).files, tmp_path))
    assert read["metadata"]["uuid"] == SERVER_ID
    assert read["userdata"] == SERVER.user_data
    assert read["networkdata"] == json.loads(tree_of()["openstack/latest/network_data.json"])
