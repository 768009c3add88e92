"""ISO 9660 config drives read back by pycdlib, isoinfo, xorriso and cloud-init."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from guestmeta.drives import FileSystem, Layout, build_drive, drive_seed, files_of, read_image
from guestmeta.drives.build import image
from tests.consumers import cloudinit
from tests.documents.topologies import KEY, SERVER, SERVER_ID
from tests.drives.conftest import CASE, tree_of, unpack

# genisoimage as Nova calls it (nova/virt/configdrive.py).
NOVA_FLAGS = ["-ldots", "-allow-lowercase", "-allow-multidot", "-l", "-J", "-r", "-V", "config-2"]


@pytest.fixture(scope="module")
def iso(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("iso") / "drive.iso"
    path.write_bytes(build_drive(CASE.topology, SERVER_ID))
    return path


def test_pycdlib_reads_back_every_file_of_the_tree(iso: Path) -> None:
    got = read_image(iso)
    assert (got.fs, got.label, got.names) == ("iso9660", "config-2", "rock ridge")
    assert got.files == tree_of()
    # What Nova writes, by hand: every version and latest, the two EC2 versions.
    assert "openstack/2012-08-10/meta_data.json" in got.files
    assert "openstack/latest/network_data.json" in got.files
    assert "openstack/2012-08-10/network_data.json" not in got.files
    assert {p.split("/")[1] for p in got.files if p.startswith("ec2/")} == {"2009-04-04", "latest"}
    assert not any("password" in p for p in got.files)


def test_isoinfo_finds_the_label_rock_ridge_and_joliet(iso: Path) -> None:
    out = subprocess.run(["isoinfo", "-d", "-i", str(iso)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "Volume id: config-2\n" in out.stdout
    assert "Rock Ridge signatures version 1 found" in out.stdout
    assert "Joliet with UCS level 3 found" in out.stdout
    joliet = subprocess.run(
        ["isoinfo", "-J", "-f", "-i", str(iso)], capture_output=True, text=True, check=True
    )
    assert "/openstack/2018-08-27/vendor_data2.json" in joliet.stdout.split()


def test_xorriso_lists_the_same_files(iso: Path) -> None:
    out = subprocess.run(
        ["xorriso", "-indev", str(iso), "-find", "/", "-type", "f"],
        capture_output=True,
        text=True,
        check=True,
    )
    listed = {line.strip("'").lstrip("/") for line in out.stdout.split()}
    assert listed == set(tree_of())


@pytest.mark.consumers("cloud-init")
def test_cloud_init_reads_our_documents_unchanged(iso: Path, tmp_path: Path) -> None:
    read = cloudinit.read_drive(unpack(read_image(iso).files, tmp_path))
    tree = tree_of()
    meta = dict(read["metadata"])
    # cloud-init adds its own two names and hands over the seed decoded.
    assert meta.pop("instance-id") == SERVER_ID
    assert meta.pop("local-hostname") == "matrix-vm.novalocal"
    assert meta.pop("random_seed") == drive_seed(SERVER)
    ours = json.loads(tree["openstack/2018-08-27/meta_data.json"])
    del ours["random_seed"]
    assert meta == ours
    assert meta["uuid"] == SERVER_ID
    assert meta["public_keys"] == {KEY.name: KEY.public_key}
    assert read["userdata"] == SERVER.user_data
    assert read["networkdata"] == json.loads(tree["openstack/2018-08-27/network_data.json"])
    assert read["ec2-metadata"] == json.loads(tree["ec2/latest/meta-data.json"])


def test_same_data_same_bytes_whatever_the_clock_and_zone(iso: Path) -> None:
    """Another process, another zone, a clock years away: the same image."""
    probe = (
        "import sys, time\n"
        "time.time = lambda: 4102444800.0\n"  # 2100-01-01
        "from tests.documents.topologies import BY_NAME, SERVER_ID\n"
        "from guestmeta.drives import build_drive\n"
        "sys.stdout.buffer.write(build_drive(BY_NAME['bond_vlan'].topology, SERVER_ID))\n"
    )
    env = {**os.environ, "TZ": "Pacific/Chatham"}
    other = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, env=env, check=True
    ).stdout
    assert other == iso.read_bytes()
    time.sleep(1.1)
    assert build_drive(CASE.topology, SERVER_ID) == iso.read_bytes()


def test_a_changed_server_gives_other_bytes(iso: Path) -> None:
    from dataclasses import replace

    topology = CASE.topology.copy()
    topology.servers = {SERVER_ID: replace(SERVER, metadata={"role": "changed"})}
    assert build_drive(topology, SERVER_ID) != iso.read_bytes()


def test_nova_method_reads_back_to_the_same_files(iso: Path, tmp_path: Path) -> None:
    """A directory and genisoimage with Nova's flags, from the same tree: the same files."""
    source = unpack(tree_of(), tmp_path / "tree")
    nova_iso = tmp_path / "nova.iso"
    subprocess.run(
        ["genisoimage", "-o", str(nova_iso), *NOVA_FLAGS, "-quiet", str(source)],
        check=True,
        capture_output=True,
    )
    nova = read_image(nova_iso)
    ours = read_image(iso)
    assert nova.label == ours.label == "config-2"
    assert nova.files == ours.files


def test_nocloud_iso_has_the_cidata_label(tmp_path: Path) -> None:
    data = build_drive(CASE.topology, SERVER_ID, layout=Layout.nocloud)
    (tmp_path / "seed.iso").write_bytes(data)
    got = read_image(tmp_path / "seed.iso")
    assert got.label == "cidata"
    assert got.files == files_of(tree_of(), Layout.nocloud)


def test_a_drive_over_the_limit_is_refused() -> None:
    from guestmeta.drives import DriveError

    big = {"openstack/latest/blob": b"\0" * (64 * 1024 * 1024 + 1)}
    with pytest.raises(DriveError, match="more than 67108864"):
        image(big, Layout.config_2, FileSystem.iso9660, SERVER)


def test_too_much_user_data_is_refused() -> None:
    """The model refuses it on input; the drive checks again for servers made otherwise."""
    from dataclasses import replace

    from guestmeta.drives import DriveError, drive_tree

    server = replace(SERVER)
    object.__setattr__(server, "user_data", b"x" * (64 * 1024 + 1))
    topology = CASE.topology.copy()
    topology.servers = {SERVER_ID: server}
    with pytest.raises(DriveError) as caught:
        drive_tree(topology, SERVER_ID)
    assert str(caught.value) == (
        f"server Matrix VM ({SERVER_ID}): user data is 65537 bytes, more than 65536"
    )
