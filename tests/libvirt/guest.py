"""A minimal guest that answers PCI unplug: Debian's kernel and a busybox initramfs.

Detaching an interface from a running domain completes only when the guest's kernel
releases the device (ACPI PCI hot-plug); with no guest OS the request stays pending for
ever. Debian's stock kernel reaches userspace in about ten seconds under TCG, and a
busybox shell as init keeps it there. Both come from Debian's packages through
``apt-get download`` (no install into this machine) and are unpacked and packed once
into a cache directory, keyed by the kernel package's version. The apt and cpio helpers
are the demo guest image's (:mod:`guestmeta.demo.image`), which boots the same kernel.
"""

from __future__ import annotations

import fcntl
import gzip
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from guestmeta.demo.image import _cpio_newc, _download, _kernel_package, _kernel_version

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "guestmeta-tests"
READY = "GUESTMETA-GUEST-READY"
INIT = f"""#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo {READY} > /dev/ttyS0
while true; do /bin/busybox sleep 3600; done
"""


def build(cache: Path = CACHE) -> tuple[Path, Path]:
    """(kernel, initramfs), built once per kernel version; safe to call concurrently."""
    cache.mkdir(parents=True, exist_ok=True)
    _kernel_version()  # fetches apt's package lists on a machine that has none
    package = _kernel_package()
    kernel = cache / f"{package}.vmlinuz"
    initrd = cache / f"{package}.initramfs.gz"
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if kernel.exists() and initrd.exists():
            return kernel, initrd
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            work = Path(tmp)
            for pkg in (package, "busybox-static"):
                deb = _download(pkg, work)
                subprocess.run(["dpkg-deb", "-x", str(deb), str(work / "root")], check=True)
            vmlinuz = sorted((work / "root" / "boot").glob("vmlinuz-*"))[-1]
            busybox = (work / "root" / "bin" / "busybox").read_bytes()
            archive = _cpio_newc(
                [
                    ("bin", 0o40755, b""),
                    ("dev", 0o40755, b""),
                    ("proc", 0o40755, b""),
                    ("sys", 0o40755, b""),
                    ("bin/busybox", 0o100755, busybox),
                    ("bin/sh", 0o100755, busybox),
                    ("init", 0o100755, INIT.encode()),
                ]
            )
            partial = initrd.with_suffix(".partial")
            partial.write_bytes(gzip.compress(archive, compresslevel=6))
            shutil.copyfile(vmlinuz, kernel.with_suffix(".partial"))
            kernel.with_suffix(".partial").rename(kernel)
            partial.rename(initrd)
    return kernel, initrd


def boot_xml(kernel: Path, initrd: Path) -> str:
    """The ``<os>`` additions that boot the kernel straight into the initramfs."""
    return (
        f"<kernel>{kernel}</kernel><initrd>{initrd}</initrd>"
        "<cmdline>console=ttyS0 panic=-1 quiet</cmdline>"
    )


def console_xml(log: Path) -> str:
    """The first serial port, written to ``log`` (libvirt adds the console by itself)."""
    return f"<serial type='file'><source path='{log}'/><target port='0'/></serial>"


def wait_ready(log: Path, timeout: float = 180.0) -> float:
    """Seconds until init announced itself on the serial console."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if READY in log.read_text(errors="replace"):
                return time.monotonic() - started
        except FileNotFoundError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"the test guest did not reach userspace within {timeout:g} s; see {log}")
