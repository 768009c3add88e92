"""Putting a drive in place: atomic, mode 0640, untouched when unchanged."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from guestmeta.drives import write_drive


def test_written_with_mode_0640_and_left_alone_when_unchanged(tmp_path: Path) -> None:
    target = tmp_path / "d.iso"
    assert write_drive(target, b"first") is True
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    before = target.stat()
    assert write_drive(target, b"first") is False
    after = target.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert write_drive(target, b"second") is True
    assert target.read_bytes() == b"second"
    assert target.stat().st_ino != before.st_ino  # a new file renamed over the old one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.iso"]


def test_a_failed_write_leaves_the_old_drive_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "d.iso"
    write_drive(target, b"old")

    def broken(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="No space"):
        write_drive(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.iso"]
