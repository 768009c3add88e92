"""Putting a drive in place: all of it or none of it, and only when its bytes changed.

The image goes to a temporary file in the target's directory (so the rename stays on one
file system), is flushed, made mode 0640 (the drive holds user data and keys: the
hypervisor's group reads it, others do not) and renamed over the target. A failure at
any point leaves the previous drive as it was and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

MODE = 0o640


def same_bytes(path: Path, data: bytes) -> bool:
    """Whether ``path`` already holds exactly ``data`` (size first: cheap when it differs)."""
    try:
        if path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except OSError:
        return False


def write_drive(path: str | os.PathLike[str], data: bytes) -> bool:
    """Write ``data`` to ``path`` atomically; False (nothing touched) when it is unchanged."""
    target = Path(path)
    if same_bytes(target, data):
        return False
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), MODE)
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return True
