"""vfat images, made with mtools on an image file: nothing is mounted.

mtools formats and fills a FAT file system inside an ordinary file (``mformat -i``,
``mmd -i``, ``mcopy -i``), so a drive needs neither root nor a loop device. pyfatfs would
do it in-process but rests on PyFilesystem2, which is no longer kept; mtools is in every
distribution. Reproducible: ``SOURCE_DATE_EPOCH`` fixes every time stamp mtools writes,
``TZ=UTC`` its zone, ``-N`` the volume serial (taken from the caller's seed), and files go
in one directory at a time, in sorted order, so the short names come out the same.

The image is sized to the content plus room for the FAT and directories, and never below
:data:`FLOOR` (a FAT12 size every reader accepts).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from guestmeta.drives.kinds import DriveError

SECTOR = 512
FLOOR = 1440 * 1024  # a 1.44 MB floppy's size: FAT12, read by every FAT reader
CLUSTER_SLACK = 4096  # per file: the last cluster, the directory entries


class VfatError(DriveError):
    """mtools is missing or refused the image."""


def _run(args: list[str], env: dict[str, str]) -> None:
    try:
        proc = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    except FileNotFoundError as exc:
        raise VfatError(f"{args[0]} not found: install mtools to build vfat drives") from exc
    if proc.returncode != 0:
        raise VfatError(f"{' '.join(args[:2])} failed: {proc.stderr.strip()}")


def image_size(files: Mapping[str, bytes]) -> int:
    """Bytes for an image that holds ``files``: content, per-file slack, FAT, a floor."""
    content = sum(len(data) + CLUSTER_SLACK for data in files.values())
    directories = {str(PurePosixPath(p).parent) for p in files}
    need = (content + CLUSTER_SLACK * len(directories)) * 5 // 4 + 64 * 1024
    size = max(FLOOR, need)
    return -(-size // (64 * 1024)) * (64 * 1024)  # whole cylinders of 2 heads x 32 sectors


def build_vfat(files: Mapping[str, bytes], label: str, at: float, serial: int) -> bytes:
    """A FAT image labelled ``label`` holding ``files`` (relative path -> bytes).

    The label is written in capitals, as FAT keeps it in the root directory: readers
    (blkid, cloud-init, ds-identify) accept ``CONFIG-2`` and ``CIDATA``, and ``fsck.fat``
    finds the boot sector and the root directory agreeing.
    """
    if shutil.which("mformat") is None:
        raise VfatError("mformat not found: install mtools to build vfat drives")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "TZ": "UTC",
        "SOURCE_DATE_EPOCH": str(int(at)),
        "MTOOLS_SKIP_CHECK": "1",
        "MTOOLSRC": os.devnull,
    }
    with tempfile.TemporaryDirectory(prefix="guestmeta-vfat-") as tmp:
        image = Path(tmp) / "drive.img"
        sectors = image_size(files) // SECTOR
        with image.open("wb") as f:
            f.truncate(sectors * SECTOR)
        _run(
            ["mformat", "-i", str(image), "-T", str(sectors), "-h", "2", "-s", "32",
             "-v", label.upper(), "-N", f"{serial & 0xFFFFFFFF:08x}", "::"],
            env,
        )  # fmt: skip
        by_dir: dict[str, list[str]] = {}
        for path in sorted(files):
            by_dir.setdefault(str(PurePosixPath(path).parent), []).append(path)
        directories = sorted(
            {
                str(parent)
                for d in by_dir
                for parent in (PurePosixPath(d), *PurePosixPath(d).parents)
            }
            - {"."}
        )
        if directories:
            _run(["mmd", "-i", str(image), *(f"::/{d}" for d in directories)], env)
        source = Path(tmp) / "files"
        for directory, paths in by_dir.items():
            names = []
            for path in paths:
                local = source / path
                local.parent.mkdir(parents=True, exist_ok=True)
                local.write_bytes(files[path])
                os.utime(local, (at, at))
                names.append(str(local))
            target = "::/" if directory == "." else f"::/{directory}/"
            _run(["mcopy", "-i", str(image), "-m", "-o", *names, target], env)
        return image.read_bytes()
