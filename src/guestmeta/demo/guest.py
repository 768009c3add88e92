"""A small guest under libvirt, and the guest's own view of itself through its agent.

The demo guest boots the image of :mod:`guestmeta.demo.image` straight from its kernel
(no bootloader under TCG: seconds saved), from a disk of its own layered on the shared
image. It carries what Nova gives a guest that guestmeta's data must reach:

- one ``<interface type='user'>`` per port, with the port's MAC. QEMU's user network is
  set to the port's own subnet, so the guest, once configured with its static address,
  still reaches this machine: QEMU answers as the subnet's second address (``.2``) and
  forwards its connections to this machine's loopback. A metadata service on a loopback
  port of its own is then reachable by that guest alone, which makes the port the
  guest's identity;
- SMBIOS product ``OpenStack Nova``, which is what makes cloud-init look for OpenStack;
- the QEMU guest agent's channel, through which the operator (and the tests) ask the
  guest what it sees: its addresses, its routes, a file;
- the serial console written to a file, kept for when a guest does not come up.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import libvirt
import libvirt_qemu  # type: ignore[import-untyped]

from guestmeta.demo.image import GuestImage
from guestmeta.libvirt import media

AGENT_CHANNEL = "org.qemu.guest_agent.0"


class GuestError(RuntimeError):
    """The guest did not do what was asked in time; the message says what and for how long."""


@dataclass(frozen=True)
class Nic:
    """A user-network NIC: the port's MAC, and the IPv4 subnet QEMU's network pretends to be."""

    mac: str
    subnet: str | None = None  # e.g. "192.168.50.0/24"; None: QEMU's default 10.0.2.0/24

    @property
    def host_address(self) -> str:
        """Where the guest reaches this machine's loopback through this NIC."""
        net = ipaddress.ip_network(self.subnet or "10.0.2.0/24")
        return str(net.network_address + 2)


def nic_xml(nic: Nic) -> str:
    ip = ""
    if nic.subnet is not None:
        net = ipaddress.ip_network(nic.subnet)
        ip = f"<ip family='ipv4' address='{net.network_address}' prefix='{net.prefixlen}'/>"
    return (
        f"<interface type='user'><mac address={quoteattr(nic.mac)}/>"
        f"<model type='virtio'/>{ip}</interface>"
    )


def cdrom_xml(path: Path) -> str:
    return (
        "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
        f"<source file={quoteattr(str(path))}/><target dev='hdc' bus='ide'/><readonly/></disk>"
    )


def domain_xml(
    name: str,
    uuid: str,
    image: GuestImage,
    disk: Path,
    console: Path,
    nics: list[Nic],
    *,
    cmdline: str = "",
    cdrom: Path | None = None,
    memory_mib: int = 512,
) -> str:
    """A TCG domain that boots ``image`` with ``disk`` as its root and ``nics`` in order."""
    full_cmdline = f"{image.cmdline} {cmdline}".strip()
    return f"""<domain type='qemu'>
  <name>{escape(name)}</name>
  <uuid>{escape(uuid)}</uuid>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>1</vcpu>
  <sysinfo type='smbios'>
    <system><entry name='manufacturer'>OpenStack Foundation</entry>
    <entry name='product'>OpenStack Nova</entry><entry name='uuid'>{escape(uuid)}</entry></system>
  </sysinfo>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{escape(str(image.kernel))}</kernel><initrd>{escape(str(image.initrd))}</initrd>
    <cmdline>{escape(full_cmdline)}</cmdline>
    <smbios mode='sysinfo'/>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
      <source file={quoteattr(str(disk))}/><target dev='vda' bus='virtio'/></disk>
    {cdrom_xml(cdrom) if cdrom is not None else ""}
    {"".join(nic_xml(nic) for nic in nics)}
    <serial type='file'><source path={quoteattr(str(console))}/><target port='0'/></serial>
    <channel type='unix'><source mode='bind'/>
      <target type='virtio' name='{AGENT_CHANNEL}'/></channel>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
    <graphics type='vnc' port='-1' listen='127.0.0.1' autoport='yes'/>
  </devices>
</domain>"""


def remove_domain(dom: Any) -> None:
    """Stop ``dom`` and remove its definition; a domain already gone is no error."""
    try:
        if dom.isActive():
            dom.destroy()
        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_KEEP_NVRAM)
    except libvirt.libvirtError:
        pass


def _agent(
    dom: Any, command: str, arguments: dict[str, Any] | None = None, timeout: int = 10
) -> Any:
    request: dict[str, Any] = {"execute": command}
    if arguments is not None:
        request["arguments"] = arguments
    return json.loads(libvirt_qemu.qemuAgentCommand(dom, json.dumps(request), timeout, 0))["return"]


def wait_agent(dom: Any, timeout: float, console: Path | None = None) -> float:
    """Seconds until the guest agent answers; :class:`GuestError` after ``timeout``."""
    started = time.monotonic()
    while True:
        try:
            _agent(dom, "guest-ping", timeout=2)
            return time.monotonic() - started
        except libvirt.libvirtError as exc:
            if not dom.isActive():
                raise GuestError(f"{dom.name()} stopped before its agent answered") from exc
            if time.monotonic() - started > timeout:
                where = f"; console: {console}" if console is not None else ""
                raise GuestError(
                    f"{dom.name()}: the guest agent did not answer within {timeout:g} s{where}"
                ) from exc
        time.sleep(1.0)


@dataclass(frozen=True)
class Ran:
    status: int
    out: str
    err: str


def run(dom: Any, argv: list[str], timeout: float = 120.0) -> Ran:
    """Run ``argv`` in the guest through its agent (``guest-exec``) and wait for it."""
    pid = _agent(dom, "guest-exec", {"path": argv[0], "arg": argv[1:], "capture-output": True})[
        "pid"
    ]
    started = time.monotonic()
    while True:
        state = _agent(dom, "guest-exec-status", {"pid": pid})
        if state.get("exited"):
            out, err = (
                base64.b64decode(state.get(key, "")).decode(errors="replace")
                for key in ("out-data", "err-data")
            )
            return Ran(int(state.get("exitcode", -1)), out, err)
        if time.monotonic() - started > timeout:
            raise GuestError(f"{dom.name()}: {' '.join(argv)} still running after {timeout:g} s")
        time.sleep(0.2)


def shell(dom: Any, script: str, timeout: float = 120.0) -> str:
    """Output of ``sh -c script`` in the guest; :class:`GuestError` when it fails."""
    ran = run(dom, ["/bin/sh", "-c", script], timeout)
    if ran.status != 0:
        raise GuestError(f"{dom.name()}: {script!r} exited {ran.status}: {ran.err.strip()}")
    return ran.out


def wait_config_drive(dom: Any, timeout: float = 60.0) -> None:
    """Until the agent has put the config drive on ``dom``'s saved definition: a cdrom
    cannot be hot-plugged, so the domain must not start before."""
    deadline = time.monotonic() + timeout
    while media.current(dom, libvirt.VIR_DOMAIN_AFFECT_CONFIG) is None:
        if time.monotonic() > deadline:
            raise GuestError(f"{dom.name()}: the agent put no config drive on it in {timeout:g} s")
        time.sleep(0.2)


def wait_cloud_init(dom: Any, timeout: float) -> None:
    """Until cloud-init in the guest has finished every stage (its status aside)."""
    shell(dom, "cloud-init status --wait >/dev/null; true", timeout=timeout)


def addresses(dom: Any) -> dict[str, list[str]]:
    """The guest's addresses by MAC, as its agent reports them (``address/prefix``)."""
    found: dict[str, list[str]] = {}
    reply = dom.interfaceAddresses(libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT)
    for name, iface in reply.items():
        if name == "lo":
            continue
        mac = (iface.get("hwaddr") or "").lower()
        found.setdefault(mac, []).extend(
            f"{a['addr']}/{a['prefix']}" for a in iface.get("addrs") or ()
        )
    return found


__all__ = [
    "GuestError",
    "Nic",
    "Ran",
    "addresses",
    "domain_xml",
    "remove_domain",
    "run",
    "shell",
    "wait_agent",
    "wait_cloud_init",
    "wait_config_drive",
]
