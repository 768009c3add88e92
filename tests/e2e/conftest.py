"""One small cloud for the end-to-end tests: a store, guestmeta's processes, three real guests.

Everything is real and started here: the real libvirtd (QEMU under TCG), a Debian 12 guest
with Debian's cloud-init (built once with mmdebstrap and cached), and ``guestmeta agent``,
``guestmeta serve`` and ``guestmeta exporter`` as the processes an operator runs. The
three guests boot at once (on two cores that is faster than one after the other) and
each test waits for its own:

- ``e2e-drive`` (host ``e2e-host``): its config-2 drive is the one the agent puts on its
  cdrom before it first starts; later the port hot-plug test runs on it;
- ``e2e-nocloud`` (host ``e2e-bare``): a NoCloud ``cidata`` drive made by
  ``guestmeta configdrive --layout nocloud``;
- ``e2e-service`` (host ``e2e-bare``): no drive; cloud-init crawls the metadata service on
  a loopback port of its own, told by the kernel command line's cloud-config.

A failing test gets every guest's console in its report.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libvirt
import pytest

from guestmeta.demo import image as guest_image
from guestmeta.demo.guest import Nic, domain_xml, wait_config_drive
from guestmeta.demo.system import Host, free_port
from tests.e2e import cloud
from tests.libvirtd import URI, LibvirtDaemon, remove

LAN = "192.168.50.0/24"
PASSWORD = "e2e-password-posted-by-the-guest"
BOOT_TIMEOUT = 420.0  # seconds for all three guests to report, booting at once under TCG
GUESTS = {"e2e-drive": 1, "e2e-nocloud": 2, "e2e-service": 3}
SPARE = "e2e-spare"


@dataclass
class Cloud:
    host: Host
    conn: Any
    workdir: Path
    ports: dict[str, int]  # server -> its metadata service port on loopback
    exporter: int
    ids: dict[str, str]  # server name -> id
    consoles: dict[str, Path]
    started: float
    doms: dict[str, Any] = field(default_factory=dict)

    def console(self, name: str) -> str:
        try:
            return self.consoles[name].read_text(errors="replace")
        except FileNotFoundError:
            return ""


_current: list[Cloud] = []


# Where e2e-service reaches this machine's loopback: its subnet's .2 (see demo.guest).
SERVICE_HOST = Nic(cloud.mac(3, 1), LAN).host_address


def _password_runcmd(port: int) -> str:
    url = f"http://{SERVICE_HOST}:{port}/openstack/latest/password"
    return (
        'python3 -c "import urllib.request as u; u.urlopen(u.Request('
        f"'{url}', data=b'{PASSWORD}', method='POST'), timeout=30)\""
    )


def _service_cmdline(port: int) -> str:
    """cloud-init reads cloud-config from the kernel command line (``cc: ... end_cc``):
    here, look only at OpenStack's metadata service, at this guest's own port."""
    url = f"http://{SERVICE_HOST}:{port}"
    return (
        "cc: {datasource_list: [OpenStack, None], datasource: {OpenStack: "
        f"{{metadata_urls: ['{url}'], max_wait: 120, timeout: 10}}}}}} end_cc"
    )


# Module scope: the three guests are torn down once test_guests.py is done, not kept
# running (two cores of TCG) under the rest of the suite, where they slowed every later
# test and made timing-bound ones fail.
@pytest.fixture(scope="module")
def e2e(libvirtd: LibvirtDaemon, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    image = guest_image.build()
    workdir = tmp_path_factory.mktemp("e2e")
    ports = {"e2e-drive": free_port(), "e2e-service": free_port()}
    guests = [
        cloud.guest(1, "e2e-drive"),
        cloud.guest(2, "e2e-nocloud", cloud.BARE),
        cloud.guest(3, "e2e-service", cloud.BARE, (_password_runcmd(ports["e2e-service"]),)),
    ]
    data = cloud.write(workdir / "guests.json", guests, [cloud.spare_port(SPARE, 1)])
    host = Host(workdir, f"sqlite:///{workdir / 'store.db'}", cloud.HOST, URI)
    host.command("apply", str(cloud.NETWORKS), str(data))
    listed = json.loads(host.command("list", "servers", "--format", "json").stdout)
    ids = {s["name"]: s["id"] for s in listed}
    conn = libvirt.open(URI)
    state = Cloud(
        host,
        conn,
        workdir,
        ports,
        free_port(),
        ids,
        {name: workdir / f"{name}.console.log" for name in GUESTS},
        time.monotonic(),
    )
    _current.append(state)
    try:
        host.start_agent(workdir / "drives")
        host.start_service(ports)
        host.start_exporter(state.exporter)
        nocloud = workdir / "nocloud.iso"
        host.command("configdrive", "e2e-nocloud", "--output", str(nocloud), "--layout", "nocloud")
        extra = {
            "e2e-nocloud": {"cdrom": nocloud},
            "e2e-service": {"cmdline": _service_cmdline(ports["e2e-service"])},
        }
        for name, number in GUESTS.items():
            disk = guest_image.overlay(image, workdir / f"{name}.qcow2")
            xml = domain_xml(
                cloud.domain(name),
                ids[name],
                image,
                disk,
                state.consoles[name],
                [Nic(cloud.mac(number, 1), LAN)],
                **extra.get(name, {}),
            )
            state.doms[name] = conn.defineXML(xml)
        # The agent gives e2e-drive its cdrom in the saved definition; start it after.
        wait_config_drive(state.doms["e2e-drive"])
        state.started = time.monotonic()
        for dom in state.doms.values():
            dom.create()
        yield state
    finally:
        _current.remove(state)
        for dom in state.doms.values():
            remove(dom)
        host.stop()
        conn.close()
        shutil.rmtree(workdir / "drives", ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed and _current:
        state = _current[-1]
        for name in GUESTS:
            tail = "\n".join(state.console(name).splitlines()[-150:])
            report.sections.append((f"console of {name} (last 150 lines)", tail))
        for proc in state.host.procs:
            log = state.host.log(proc)
            if log.exists():
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
                report.sections.append((f"guestmeta {proc} log (last 40 lines)", tail))
