"""Config drives: a server's document tree as an ISO 9660 or vfat image.

Two layouts: OpenStack's ``config-2`` (what Nova writes) and NoCloud's ``cidata`` (what
``cloud-localds`` makes for plain libvirt). The bytes depend only on the data, so a
drive is rewritten only when it really changed::

    from guestmeta import Store
    from guestmeta.drives import FileSystem, Layout, build_drive, write_drive

    topology = Store().load()
    data = build_drive(topology, server_id, fs=FileSystem.iso9660, layout=Layout.config_2)
    write_drive("/var/lib/guestmeta/drives/instance-0000002a.iso", data)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from guestmeta._lazy import exports
from guestmeta.drives.kinds import LABELS, DriveError, FileSystem, Layout

if TYPE_CHECKING:
    from guestmeta.drives.build import (
        MAX_DRIVE,
        MAX_USER_DATA,
        build_drive,
        drive_seed,
        drive_tree,
    )
    from guestmeta.drives.inspect import Inspection, inspect_drive
    from guestmeta.drives.layout import files_of
    from guestmeta.drives.read import Image, ReadError, read_image
    from guestmeta.drives.write import write_drive

__all__ = [
    "LABELS",
    "MAX_DRIVE",
    "MAX_USER_DATA",
    "DriveError",
    "FileSystem",
    "Image",
    "Inspection",
    "Layout",
    "ReadError",
    "build_drive",
    "drive_seed",
    "drive_tree",
    "files_of",
    "inspect_drive",
    "read_image",
    "write_drive",
]
# Loaded on first use: the CLI offers the choices without loading pycdlib or mtools' code.
__getattr__ = exports(
    __name__,
    {
        "guestmeta.drives.build": (
            "MAX_DRIVE",
            "MAX_USER_DATA",
            "build_drive",
            "drive_seed",
            "drive_tree",
        ),
        "guestmeta.drives.inspect": ("Inspection", "inspect_drive"),
        "guestmeta.drives.layout": ("files_of",),
        "guestmeta.drives.read": ("Image", "ReadError", "read_image"),
        "guestmeta.drives.write": ("write_drive",),
    },
)
