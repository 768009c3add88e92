"""A real libvirtd (with virtlogd) that the tests start, restart and stop by PID.

The daemon is the system one (`qemu:///system`): the persistent definitions it writes
under /etc/libvirt/qemu/ are what operators read, so the tests read them too. Guests are
TCG (`type='qemu'`) domains with no disk and user-mode networking, so nothing touches
this machine's network. A daemon that is already running is used as it is and left
running; one that the tests start is stopped by the PID it wrote.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import libvirt

from guestmeta.demo.guest import remove_domain

URI = "qemu:///system"
SOCKET = Path("/run/libvirt/libvirt-sock")


def _quiet(_ctx: object, _err: object) -> None:
    """libvirt prints every error to stderr by default; the tests look at exceptions."""


libvirt.registerErrorHandler(_quiet, None)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


class LibvirtDaemon:
    """libvirtd and virtlogd, started here unless a libvirtd already answers."""

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="guestmeta-libvirtd-"))
        self.pidfile = self.workdir / "libvirtd.pid"
        self.logpidfile = self.workdir / "virtlogd.pid"
        self.owned = False

    def start(self) -> LibvirtDaemon:
        if self._answers():
            return self
        self.owned = True
        Path("/var/log/libvirt/qemu").mkdir(parents=True, exist_ok=True)
        if not self._virtlogd_running():
            subprocess.run(["virtlogd", "-d", "-p", str(self.logpidfile)], check=True)
        self._start_libvirtd()
        return self

    def _virtlogd_running(self) -> bool:
        return Path("/run/libvirt/virtlogd-sock").exists() and (
            subprocess.run(["pgrep", "-x", "virtlogd"], capture_output=True).returncode == 0
        )

    def _start_libvirtd(self) -> None:
        log = self.workdir / "libvirtd.log"
        env = dict(os.environ, LIBVIRT_LOG_OUTPUTS=f"3:file:{log}")
        subprocess.run(["libvirtd", "-d", "-p", str(self.pidfile)], check=True, env=env)
        deadline = time.monotonic() + 60
        while not self._answers():
            if time.monotonic() > deadline:
                raise RuntimeError(f"libvirtd did not answer within 60 s; see {log}")
            time.sleep(0.1)
        # The first connection probes QEMU's capabilities (several seconds); do it once here.
        conn = libvirt.open(URI)
        try:
            conn.getCapabilities()
        finally:
            conn.close()

    def _answers(self) -> bool:
        if not SOCKET.exists():
            return False
        try:
            libvirt.open(URI).close()
        except libvirt.libvirtError:
            return False
        return True

    def stop_libvirtd(self) -> None:
        """Stop libvirtd only (guests keep running, as on a real host).

        A daemon these tests did not start is found by its process name; the one
        started in its place is then left running at the end, as the original was.
        """
        pid = _read_pid(self.pidfile)
        if pid is None or not _alive(pid):
            pid = _libvirtd_pid()
        if pid is None:
            raise RuntimeError("no libvirtd process to stop")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _alive(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)

    def restart_libvirtd(self) -> None:
        self.stop_libvirtd()
        self._start_libvirtd()

    def stop(self) -> None:
        if not self.owned:
            return
        conn = libvirt.open(URI)
        try:
            for dom in conn.listAllDomains():
                if dom.name().startswith(TEST_PREFIX):
                    _remove(dom)
        finally:
            conn.close()
        for pidfile in (self.pidfile, self.logpidfile):
            pid = _read_pid(pidfile)
            if pid is not None and _alive(pid):
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + 30
                while _alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)


def _libvirtd_pid() -> int | None:
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "comm").read_text().strip() == "libvirtd":
                    return int(proc.name)
            except OSError:
                continue
    return None


TEST_PREFIX = "gmtest-"


def _remove(dom: Any) -> None:
    remove_domain(dom)


def domain_xml(
    name: str,
    *,
    dom_uuid: str | None = None,
    macs: tuple[str, ...] = (),
    metadata: str = "",
    memory_mib: int = 32,
    extra_devices: str = "",
    os_extra: str = "",
) -> str:
    """A TCG domain with no disk: it starts in half a second and needs no image."""
    nics = "".join(
        f"<interface type='user'><mac address='{mac}'/><model type='virtio'/></interface>"
        for mac in macs
    )
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <uuid>{dom_uuid or uuid.uuid4()}</uuid>
  <metadata>{metadata}</metadata>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type>{os_extra}</os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    {nics}
    {extra_devices}
    <graphics type='vnc' port='-1' listen='127.0.0.1' autoport='yes'/>
  </devices>
</domain>"""


def define(conn: Any, name: str, *, start: bool = False, **kwargs: Any) -> Any:
    """Define (and optionally start) a test domain; its name must carry TEST_PREFIX."""
    assert name.startswith(TEST_PREFIX), name
    existing = [d for d in conn.listAllDomains() if d.name() == name]
    for dom in existing:
        _remove(dom)
    dom = conn.defineXML(domain_xml(name, **kwargs))
    if start:
        dom.create()
    return dom


def remove(dom: Any) -> None:
    _remove(dom)
