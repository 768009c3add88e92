"""Reading a drive image back into its label and files: ISO 9660 or vfat, anyone's.

ISO images are read with pycdlib, by their Rock Ridge names when they have them (as
Linux guests read them), else Joliet (Windows), else the plain ISO 9660 names with the
version suffix cut. vfat images are copied out with mtools into a temporary directory;
nothing is mounted.
"""

from __future__ import annotations

import io
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pycdlib

ISO_MAGIC_AT = 0x8001  # "CD001" of the first volume descriptor


class ReadError(ValueError):
    """The image is neither an ISO 9660 nor a FAT file system we can read."""


@dataclass(frozen=True)
class Image:
    fs: str  # "iso9660" or "vfat"
    label: str
    files: dict[str, bytes]  # relative path -> bytes
    names: str = ""  # which names were read: "rock ridge", "joliet", "iso9660" or "vfat"


def _read_iso(path: Path) -> Image:
    iso = pycdlib.PyCdlib()
    try:
        iso.open(str(path))
    except pycdlib.pycdlibexception.PyCdlibException as exc:
        raise ReadError(f"{path}: not a readable ISO 9660 image: {exc}") from exc
    try:
        label = iso.pvd.volume_identifier.decode("ascii", "replace").rstrip()
        if iso.has_rock_ridge():
            kind, names = "rr_path", "rock ridge"
        elif iso.has_joliet():
            kind, names = "joliet_path", "joliet"
        else:
            kind, names = "iso_path", "iso9660"
        files: dict[str, bytes] = {}
        for top, _dirs, filenames in iso.walk(**{kind: "/"}):
            for name in filenames:
                full = f"{top.rstrip('/')}/{name}"
                out = io.BytesIO()
                iso.get_file_from_iso_fp(out, **{kind: full})
                shown = full.lstrip("/")
                if kind == "iso_path":
                    shown = shown.split(";")[0].rstrip(".").lower()
                files[shown] = out.getvalue()
    finally:
        iso.close()
    return Image("iso9660", label, dict(sorted(files.items())), names)


def _read_vfat(path: Path) -> Image:
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1", "MTOOLSRC": os.devnull}
    label = subprocess.run(
        ["mlabel", "-i", str(path), "-s", "::"], capture_output=True, text=True, env=env
    )
    if label.returncode != 0:
        raise ReadError(f"{path}: not a readable FAT image: {label.stderr.strip()}")
    # "Volume label is CONFIG-2" or " Volume has no label"
    text = label.stdout.strip()
    name = text.split(" is ", 1)[1].strip() if " is " in text else ""
    with tempfile.TemporaryDirectory(prefix="guestmeta-read-") as tmp:
        proc = subprocess.run(
            ["mcopy", "-s", "-n", "-i", str(path), "::/", tmp],
            capture_output=True,
            text=True,
            env=env,
        )
        if proc.returncode != 0:
            raise ReadError(f"{path}: cannot read its files: {proc.stderr.strip()}")
        root = Path(tmp)
        files = {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }
    return Image("vfat", name, files, "vfat")


def read_image(path: str | os.PathLike[str]) -> Image:
    """The file system, label and files of the drive image at ``path``."""
    target = Path(path)
    try:
        with target.open("rb") as f:
            head = f.read(ISO_MAGIC_AT + 5)
    except OSError as exc:
        raise ReadError(f"{target}: {exc.strerror}") from exc
    if head[ISO_MAGIC_AT : ISO_MAGIC_AT + 5] == b"CD001":
        return _read_iso(target)
    if len(head) >= 512 and head[510:512] == b"\x55\xaa":
        return _read_vfat(target)
    raise ReadError(f"{target}: neither an ISO 9660 nor a FAT image")
