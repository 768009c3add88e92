"""``guestmeta configdrive``: write a drive, inspect any drive, one-line errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guestmeta.cli.main import app
from guestmeta.model import Plan
from guestmeta.store import Store
from tests.documents.topologies import SERVER, SERVER_ID
from tests.drives.conftest import CASE, tree_of, unpack
from tests.drives.test_iso import NOVA_FLAGS

runner = CliRunner()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    topology = CASE.topology.copy()
    url = f"sqlite:///{tmp_path_factory.mktemp('drives') / 'guestmeta.db'}"
    with Store(url) as store:
        store.change(lambda current: Plan.between(current, topology))
    return url


def run(db: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--db", db, "configdrive", *args])
    return result.exit_code, result.stdout, result.stderr


def test_writes_the_drive_then_leaves_it_alone(db: str, tmp_path: Path) -> None:
    out = tmp_path / "drive.iso"
    code, stdout, _ = run(db, "Matrix VM", "--output", str(out), "-f", "json")
    assert code == 0
    assert json.loads(stdout)["written"] is True
    code, stdout, _ = run(db, "instance-0000002a", "--output", str(out))
    assert (code, stdout.split()[-1]) == (0, "unchanged")
    code, stdout, _ = run(db, "inspect", str(out))
    assert code == 0
    assert "reads: cloud-init reads openstack/2018-08-27" in stdout.splitlines()


def test_nocloud_vfat(db: str, tmp_path: Path) -> None:
    out = tmp_path / "seed.img"
    code, _, stderr = run(db, SERVER_ID, "-o", str(out), "--fs", "vfat", "--layout", "nocloud")
    assert code == 0, stderr
    code, stdout, _ = run(db, "inspect", str(out), "-f", "json")
    found = json.loads(stdout)
    assert (code, found["fs"], found["layout"], found["rejects"]) == (0, "vfat", "nocloud", [])
    assert set(found["files"]) == {"meta-data", "user-data", "network-config"}


def test_unwritable_target_is_one_line(db: str, tmp_path: Path) -> None:
    code, _, stderr = run(db, SERVER_ID, "-o", str(tmp_path / "no" / "such" / "d.iso"))
    assert code == 1
    assert len(stderr.splitlines()) == 1
    assert "cannot write" in stderr


def test_inspect_a_genisoimage_drive_and_reject_a_wrong_label(db: str, tmp_path: Path) -> None:
    source = unpack(tree_of(), tmp_path / "tree")
    nova = tmp_path / "nova.iso"
    subprocess.run(["genisoimage", "-quiet", "-o", str(nova), *NOVA_FLAGS, str(source)],
                   check=True)  # fmt: skip
    code, stdout, _ = run(db, "inspect", str(nova), "-f", "json")
    assert code == 0
    assert json.loads(stdout)["files"]["openstack/latest/user_data"] == len(SERVER.user_data or b"")
    wrong = tmp_path / "wrong.iso"
    flags = [f if f != "config-2" else "CONFIG-2" for f in NOVA_FLAGS]
    subprocess.run(["genisoimage", "-quiet", "-o", str(wrong), *flags, str(source)], check=True)
    code, stdout, _ = run(db, "inspect", str(wrong))
    assert code == 1
    assert "rejects: label 'CONFIG-2': guests look for exactly 'config-2'" in stdout.splitlines()


def test_inspect_rejects_a_seed_without_instance_id(db: str, tmp_path: Path) -> None:
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "meta-data").write_text("local-hostname: x\n")
    (seed / "user-data").write_text("")
    image = tmp_path / "seed.iso"
    subprocess.run(["genisoimage", "-quiet", "-o", str(image), "-V", "cidata", "-J", "-r",
                    str(seed)], check=True)  # fmt: skip
    code, stdout, _ = run(db, "inspect", str(image))
    assert code == 1
    assert "rejects: meta-data: no instance-id" in stdout.splitlines()


def test_not_an_image_is_one_line(db: str, tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"hello")
    code, _, stderr = run(db, "inspect", str(junk))
    assert (code, stderr) == (1, f"guestmeta: {junk}: neither an ISO 9660 nor a FAT image\n")


@pytest.mark.parametrize("disk_format", ["iso", "vfat"])
def test_inspect_a_seed_made_by_cloud_localds(tmp_path: Path, disk_format: str, db: str) -> None:
    """The seed plain-libvirt users make today, read as a guest would read it."""
    (tmp_path / "user-data").write_text("#cloud-config\nhostname: seeded\n")
    (tmp_path / "meta-data").write_text("instance-id: iid-seeded\nlocal-hostname: seeded\n")
    (tmp_path / "network-config").write_text("version: 2\nethernets: {}\n")
    image = tmp_path / f"seed.{disk_format}"
    subprocess.run(
        ["cloud-localds", "--disk-format", "raw", "--filesystem", disk_format,
         "--network-config", str(tmp_path / "network-config"),
         str(image), str(tmp_path / "user-data"), str(tmp_path / "meta-data")],
        check=True, capture_output=True,
    )  # fmt: skip
    code, stdout, _ = run(db, "inspect", str(image), "-f", "json")
    found = json.loads(stdout)
    assert (code, found["layout"], found["rejects"]) == (0, "nocloud", [])
    assert found["fs"] == ("iso9660" if disk_format == "iso" else "vfat")
    assert found["files"]["user-data"] == len("#cloud-config\nhostname: seeded\n")
    assert set(found["files"]) == {"meta-data", "user-data", "network-config"}
