"""The config drive's cdrom on a domain: add it to the saved definition, swap its media.

Our cdrom is the disk with the user alias ``ua-guestmeta-drive``, so it is told apart
from any cdrom an operator added, and found again after a restart. It is read-only, on
IDE for the ``pc`` machine and SATA for ``q35`` (which has no IDE), at the first free
target name.

A cdrom cannot be hot-plugged on either bus, so a running domain that lacks it gets it in
its saved definition only and sees it from its next start. Once it has one, a new image
is a media change (``virDomainUpdateDeviceFlags`` with LIVE and CONFIG): QEMU opens the
new file in place, as ``virsh change-media --update`` does. The image path must change
for that (libvirt does nothing when the source is the same), so each image has a name of
its own (the host side names them by content).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import quoteattr

import libvirt
from lxml import etree

from guestmeta.libvirt.domain import CONFIG, LIVE, affected

ALIAS = "ua-guestmeta-drive"
TRAY_PAUSE = 0.5  # seconds before a refused live media change is tried again
TRAY_TRIES = 2  # a live media change is tried this many times here; the agent tries again later


@dataclass(frozen=True)
class Cdrom:
    source: str | None  # the image file, None when the tray is empty
    target: str
    bus: str


def _root(xml: str) -> Any:
    return etree.fromstring(xml.encode(), etree.XMLParser(resolve_entities=False, no_network=True))


def find(xml: str) -> Cdrom | None:
    """Our cdrom in a domain's XML, or None."""
    for disk in _root(xml).iterfind("devices/disk"):
        alias = disk.find("alias")
        if alias is None or alias.get("name") != ALIAS:
            continue
        source = disk.find("source")
        target = disk.find("target")
        return Cdrom(
            source.get("file") if source is not None else None,
            target.get("dev", "") if target is not None else "",
            target.get("bus", "") if target is not None else "",
        )
    return None


def _free_target(xml: str) -> tuple[str, str]:
    root = _root(xml)
    os_type = root.find("os/type")
    machine = os_type.get("machine", "") if os_type is not None else ""
    bus, prefix = ("sata", "sd") if "q35" in machine else ("ide", "hd")
    used = {t.get("dev") for t in root.iterfind("devices/disk/target")}
    for letter in "cdefghijklmnopqrstuvwxyzab":  # hdc: the secondary master, as virt-install
        if f"{prefix}{letter}" not in used:
            return f"{prefix}{letter}", bus
    raise ValueError("no free disk target for the config drive")


def disk_xml(path: str, target: str, bus: str) -> str:
    return (
        "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
        f"<source file={quoteattr(path)}/><target dev='{target}' bus='{bus}'/>"
        f"<readonly/><alias name='{ALIAS}'/></disk>"
    )


def _update(dom: Any, xml: str, flag: int) -> None:
    """One media change. A live one is forced: the guest's firmware or OS may have locked
    the tray, and the drive is the host's, never worth keeping stale.

    A live change is made with the guest's vCPUs paused (for the few monitor commands it
    takes) when it runs. libvirt opens the tray, removes the medium, inserts the new one
    and closes the tray; a guest that touches the drive in between (firmware probing it,
    an OS closing an open tray when it opens the device) can close the tray under QEMU,
    which then refuses the insert, and libvirt, which heard no tray event, believes the
    tray still open and never opens it again: every later change fails until the domain
    restarts. A paused guest cannot do that. A change still refused is tried
    ``TRAY_TRIES`` times, ``TRAY_PAUSE`` apart with the guest running, and the agent owes
    a drive that still failed and tries it again after a growing pause."""
    if flag == LIVE:
        flag |= libvirt.VIR_DOMAIN_DEVICE_MODIFY_FORCE
    tries = TRAY_TRIES if flag & LIVE else 1
    for attempt in range(1, tries + 1):
        try:
            with _paused(dom) if flag & LIVE else nullcontext():
                dom.updateDeviceFlags(xml, flag)
            return
        except libvirt.libvirtError:
            if attempt == tries:
                raise
            time.sleep(TRAY_PAUSE)


@contextmanager
def _paused(dom: Any) -> Iterator[None]:
    """The guest's vCPUs stopped for the block, when they ran: resumed even when the block
    fails, and left alone when the domain was paused already (by its operator)."""
    running = dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    if running:
        dom.suspend()
    try:
        yield
    finally:
        if running:
            dom.resume()


def put(dom: Any, path: str) -> list[str]:
    """Make our cdrom hold ``path`` in the definitions it can: what changed ("live",
    "config", "config (added)"), empty when both already hold it."""
    done: list[str] = []
    # The saved definition first: when QEMU refuses the live change, the next start
    # still brings the new image.
    for flag in sorted(affected(dom), key=lambda f: f != CONFIG):
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE if flag == CONFIG else 0)
        have = find(xml)
        if have is None:
            if flag == LIVE:
                continue  # no hot-plugged cdroms: the saved definition brings it at the next start
            target, bus = _free_target(xml)
            dom.attachDeviceFlags(disk_xml(path, target, bus), CONFIG)
            done.append("config (added)")
        elif have.source != path:
            _update(dom, disk_xml(path, have.target, have.bus), flag)
            done.append("live" if flag == LIVE else "config")
    return done


def current(dom: Any, flags: int = 0) -> Cdrom | None:
    """Our cdrom as the running (0) or saved (CONFIG) definition has it."""
    inactive = libvirt.VIR_DOMAIN_XML_INACTIVE if flags & CONFIG else 0
    return find(dom.XMLDesc(inactive))
