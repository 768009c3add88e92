"""ISO 9660 images with Joliet and Rock Ridge, built in memory with pycdlib.

Guests read Rock Ridge names (Linux) or Joliet names (Windows); the plain ISO 9660 names
are the level 3 form of the same names (upper case, ``-`` as ``_``), so strict readers
still find every file. The label is the volume id, exactly as given (``config-2`` is
lower case, and afterburn and ds-identify compare it exactly).

pycdlib stamps every record with the current time and local time zone. A drive must be
the same bytes for the same data, on any host and in any zone, so while an image is
built pycdlib's clock reads a time given by the caller and its zone is UTC: the modules
that read the clock see a stand-in for ``time`` that answers from a per-thread value and
otherwise passes through to the real one.
"""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from time import struct_time
from typing import Any

import pycdlib
import pycdlib.dates
import pycdlib.headervd
import pycdlib.pycdlib


class _HeldClock(threading.local):
    """``time`` for pycdlib: the real one unless a build holds it at a fixed second."""

    at: float | None = None

    def time(self) -> float:
        return time.time() if self.at is None else self.at

    def localtime(self, secs: float | None = None) -> struct_time:
        return time.localtime(secs) if self.at is None else time.gmtime(secs)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


_CLOCK = _HeldClock()
for _module in (pycdlib.pycdlib, pycdlib.headervd, pycdlib.dates):
    _module.time = _CLOCK  # type: ignore[attr-defined]


@contextmanager
def held_clock(at: float) -> Iterator[None]:
    _CLOCK.at = at
    try:
        yield
    finally:
        _CLOCK.at = None


_NOT_D = re.compile(r"[^A-Z0-9_]")


def _iso_part(name: str, *, is_dir: bool) -> str:
    """The level 3 ISO 9660 form of one path component."""
    if is_dir:
        return _NOT_D.sub("_", name.upper())[:31]
    stem, dot, ext = name.upper().rpartition(".")
    if not dot:
        stem, ext = ext, ""
    return f"{_NOT_D.sub('_', stem)[:26]}.{_NOT_D.sub('_', ext)[:3]};1"


def _iso_path(parts: list[str], *, is_dir: bool) -> str:
    names = [_iso_part(p, is_dir=True) for p in parts[:-1]]
    names.append(_iso_part(parts[-1], is_dir=is_dir))
    return "/" + "/".join(names)


def build_iso(files: Mapping[str, bytes], label: str, at: float) -> bytes:
    """An ISO 9660 image of ``files`` (relative path -> bytes), entries in sorted order."""
    iso = pycdlib.PyCdlib()
    with held_clock(at):
        iso.new(interchange_level=3, vol_ident=label, joliet=3, rock_ridge="1.09")
        made: set[str] = set()
        seen: dict[str, str] = {}
        for path in sorted(files):
            parts = path.split("/")
            for depth in range(1, len(parts)):
                directory = "/".join(parts[:depth])
                if directory in made:
                    continue
                iso.add_directory(
                    _iso_path(parts[:depth], is_dir=True),
                    rr_name=parts[depth - 1],
                    joliet_path="/" + directory,
                )
                made.add(directory)
            iso_path = _iso_path(parts, is_dir=False)
            if iso_path in seen:
                raise ValueError(f"{path} and {seen[iso_path]} have one ISO 9660 name")
            seen[iso_path] = path
            data = files[path]
            iso.add_fp(
                io.BytesIO(data), len(data), iso_path, rr_name=parts[-1], joliet_path="/" + path
            )
        out = io.BytesIO()
        iso.write_fp(out)
        iso.close()
    return out.getvalue()
