"""Config drives that follow the store: built in a directory, kept on each domain's cdrom.

Nova writes a drive once, at boot, and never again, so a port plugged later is missing
from it. The agent builds each of its servers' drive in a directory, and after any change
of the server's documents builds it again and swaps the cdrom's media in place (see
:mod:`guestmeta.libvirt.media`). A drive whose files did not change is not rebuilt, not
rewritten and not swapped.

Each image is named ``<domain>.<first 16 hex of its SHA-256>.<iso|img>``: a new image is
a new path, which is what makes libvirt change the media, and the old image goes once
the domain holds the new one. What a guest does with a swapped drive is its own affair:
cloud-init reads a config drive at boot, applies network configuration once per
instance and runs per-instance modules again only when the instance id changes, which a
rebuild never does (the id is the server's).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guestmeta.documents import DocumentOptions
from guestmeta.drives import DriveError, FileSystem, Layout, drive_tree, files_of
from guestmeta.drives.build import image
from guestmeta.drives.write import write_drive
from guestmeta.libvirt import media
from guestmeta.model import Topology

log = logging.getLogger("guestmeta.agent")


def _digest(files: dict[str, bytes]) -> str:
    sha = hashlib.sha256()
    for path in sorted(files):
        sha.update(f"{path}\0{len(files[path])}\0".encode())
        sha.update(files[path])
    return sha.hexdigest()


@dataclass
class DriveKeeper:
    """The drives of one host's servers in ``directory``."""

    directory: Path
    layout: Layout = Layout.config_2
    fs: FileSystem = FileSystem.iso9660
    options: DocumentOptions | None = None
    # Domain name -> (digest of the drive's files, image path) last put on the domain.
    kept: dict[str, tuple[str, Path]] = field(default_factory=dict)

    @property
    def suffix(self) -> str:
        return "iso" if self.fs is FileSystem.iso9660 else "img"

    def image_path(self, name: str, data: bytes) -> Path:
        return self.directory / f"{name}.{hashlib.sha256(data).hexdigest()[:16]}.{self.suffix}"

    def keep(
        self, topology: Topology, name: str, server_id: str, dom: Any, *, check: bool = False
    ) -> list[str]:
        """Bring ``dom``'s drive up to date; what changed (empty when nothing did).

        An unchanged drive costs one build of its files and no libvirt call, unless
        ``check`` asks to look at the domain's cdrom too (the periodic pass does).
        """
        files = files_of(drive_tree(topology, server_id, self.options), self.layout)
        digest = _digest(files)
        old = self.kept.get(name)
        if old is not None and old[0] == digest and old[1].exists():
            return media.put(dom, str(old[1])) if check else []
        data = image(files, self.layout, self.fs, topology.servers[server_id])
        path = self.image_path(name, data)
        changes = ["image written"] if write_drive(path, data) else []
        changes += media.put(dom, str(path))
        self.kept[name] = (digest, path)
        self._drop_others(name, path)
        return changes

    def _drop_others(self, name: str, keep: Path) -> None:
        for other in self.directory.glob(f"{name}.*.{self.suffix}"):
            if other != keep and other.name.count(".") == keep.name.count("."):
                other.unlink(missing_ok=True)

    def keep_all(
        self,
        topology: Topology,
        by_domain: dict[str, str],
        names: Iterable[str],
        lookup: Any,
        *,
        check: bool = False,
    ) -> dict[str, str]:
        """:meth:`keep` for each of ``names`` that is a server of this host; errors logged.

        Returns the names whose drive could not be kept, with why, for the caller to report
        and try again soon:
        QEMU refuses a media change for seconds after a start while the firmware holds the
        tray, and waiting for the next periodic pass would leave a stale drive for minutes.
        """
        import libvirt

        failed: dict[str, str] = {}
        for name in names:
            server_id = by_domain.get(name)
            if server_id is None:
                continue
            dom = lookup(name)
            if dom is None:
                continue
            try:
                changes = self.keep(topology, name, server_id, dom, check=check)
            except (DriveError, OSError, libvirt.libvirtError) as exc:
                log.error("%s: cannot keep its config drive: %s", name, exc)
                self.kept.pop(name, None)
                failed[name] = str(exc)
                continue
            if changes:
                log.info("%s: config drive: %s", name, ", ".join(changes))
        return failed
