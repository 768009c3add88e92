"""The names a drive is built by (file system, layout, label) and its one error.

Kept apart from the builders so the CLI can offer the choices without loading pycdlib.
"""

from __future__ import annotations

from enum import StrEnum


class FileSystem(StrEnum):
    iso9660 = "iso9660"
    vfat = "vfat"


class Layout(StrEnum):
    config_2 = "config-2"
    nocloud = "nocloud"


# The volume label each layout needs: guests find the drive by it, exactly so.
LABELS = {Layout.config_2: "config-2", Layout.nocloud: "cidata"}


class DriveError(ValueError):
    """The drive cannot be built or written: the message says why, in one line."""
