"""Real guests configure themselves from guestmeta: a config-2 drive, a NoCloud drive, and
the metadata service; then a port plugged into a running guest, and unplugged.

What each guest has is read from its own serial console: its user data prints the
guest's view of itself there (``GMR`` lines: addresses, links, routes, resolv.conf,
authorized keys, the file it wrote), after cloud-init applied everything. The expected
values are the ones ``cloud.py`` declares, written out here by hand.
"""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import libvirt

from guestmeta.demo import guest as agent
from guestmeta.drives import read_image
from guestmeta.libvirt import media
from tests.e2e import cloud
from tests.e2e.conftest import BOOT_TIMEOUT, PASSWORD, SPARE, Cloud

NOVA_NS = "http://openstack.org/xmlns/libvirt/nova/1.1"


@dataclass
class Report:
    """What a guest printed about itself."""

    hostname: str = ""
    addrs: dict[str, set[str]] = field(default_factory=dict)  # interface -> address/prefix
    links: dict[str, str] = field(default_factory=dict)  # interface -> its line
    route4: list[str] = field(default_factory=list)
    route6: list[str] = field(default_factory=list)
    resolv: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    file: list[str] = field(default_factory=list)

    def interface(self, mac: str) -> str:
        """The (non-VLAN) interface with ``mac``."""
        for name, line in self.links.items():
            if f"link/ether {mac}" in line and "vlan protocol" not in line:
                return name
        raise AssertionError(f"no interface with MAC {mac} in {self.links}")


def parse(console: str) -> Report | None:
    """The last complete report on the console, or None."""
    end = console.rfind(f"{cloud.REPORT} end")
    begin = console.rfind(f"{cloud.REPORT} begin", 0, end)
    if end < 0 or begin < 0:
        return None
    report = Report()
    for raw in console[begin:end].splitlines():
        line = raw.strip()
        if not line.startswith(cloud.REPORT + " "):
            continue
        kind, _, rest = line[len(cloud.REPORT) + 1 :].partition(" ")
        if kind == "hostname":
            report.hostname = rest
        elif kind == "addr":  # "2: enp1s0    inet 192.168.50.10/24 brd ..."
            fields = rest.split()
            report.addrs.setdefault(fields[1], set()).add(fields[3])
        elif (
            kind == "link"
        ):  # "3: eth0.30@eth0: <...> ... link/ether MAC ... vlan protocol 802.1Q id 30"
            name = rest.split()[1].rstrip(":")
            report.links[name] = rest
        elif kind in ("route4", "route6", "resolv"):
            getattr(report, kind).append(" ".join(rest.split()))
        elif kind == "key":
            report.keys.append(rest)
        elif kind == "file":
            report.file.append(rest)
    return report


def wait_report(e2e: Cloud, name: str) -> Report:
    deadline = e2e.started + BOOT_TIMEOUT
    while True:
        report = parse(e2e.console(name))
        if report is not None:
            return report
        if not e2e.doms[name].isActive():
            raise AssertionError(f"{name} stopped before it reported")
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} did not report within {BOOT_TIMEOUT:g} s of its start")
        time.sleep(1.0)


def _source(e2e: Cloud, name: str) -> list[str]:
    """Where cloud-init says it read its data: platform and subplatform."""
    script = "cloud-init query platform; cloud-init query subplatform"
    return agent.shell(e2e.doms[name], script).split("\n")[:2]


def check_configured(report: Report, name: str, number: int, vlan_mac: bool = True) -> None:
    """Everything ``cloud.guest(number, name)`` declared, as the guest sees it.

    ``vlan_mac=False``: the VLAN keeps its parent's MAC. Debian 12's cloud-init (22.4)
    drops ``macaddress`` when it reads a version 2 ``vlans`` entry (network-config), so a
    NoCloud guest cannot get a sub-port's own MAC; network_data.json's ``vlan_mac_address``
    is applied (config-2 drive, metadata service).
    """
    assert report.hostname == name
    nic = report.interface(cloud.mac(number, 1))
    assert report.addrs[nic] >= {
        f"192.168.50.{10 * number}/24",
        f"192.168.50.{10 * number + 1}/24",
        f"2001:db8:50::{number}0/64",
    }
    vlans = [
        n for n in report.links if n.endswith(f"@{nic}") and "vlan protocol" in report.links[n]
    ]
    assert len(vlans) == 1, report.links
    vlan = vlans[0].split("@")[0]
    assert "vlan protocol 802.1Q id 30 " in report.links[vlans[0]]
    vlan_ether = cloud.mac(number, 2) if vlan_mac else cloud.mac(number, 1)
    assert f"link/ether {vlan_ether}" in report.links[vlans[0]]
    assert {a for a in report.addrs[vlan] if not a.startswith("fe80:")} == {f"10.30.0.{number}/24"}
    assert f"default via 192.168.50.1 dev {nic}" in " | ".join(report.route4)
    assert any(r.startswith(f"10.99.0.0/16 via 192.168.50.254 dev {nic}") for r in report.route4)
    assert any(r.startswith(f"default via 2001:db8:50::1 dev {nic}") for r in report.route6)
    assert {"nameserver 192.168.50.53", "nameserver 192.168.50.54"} <= set(report.resolv)
    assert report.keys == [cloud.KEY]
    assert report.file == [f"user data ran on {name}"]


def test_a_guest_configures_itself_from_its_config_2_drive(e2e: Cloud) -> None:
    check_configured(wait_report(e2e, "e2e-drive"), "e2e-drive", 1)
    assert _source(e2e, "e2e-drive") == ["configdrive", "config-disk (/dev/sr0)"]


def test_a_guest_configures_itself_from_a_nocloud_drive(e2e: Cloud) -> None:
    check_configured(wait_report(e2e, "e2e-nocloud"), "e2e-nocloud", 2, vlan_mac=False)
    assert _source(e2e, "e2e-nocloud") == ["nocloud", "config-disk (/dev/sr0)"]


def test_a_guest_configures_itself_from_the_metadata_service(e2e: Cloud) -> None:
    check_configured(wait_report(e2e, "e2e-service"), "e2e-service", 3)
    dom = e2e.doms["e2e-service"]
    url = f"http://192.168.50.2:{e2e.ports['e2e-service']}"  # the guest's loopback port
    assert _source(e2e, "e2e-service") == ["openstack", f"metadata ({url})"]
    assert "sr0" not in agent.shell(dom, "ls /dev").split()  # no drive at all
    # The password the guest's user data posted is in the store.
    shown = e2e.host.command("password", "show", "e2e-service").stdout.strip()
    assert shown == PASSWORD
    served = [
        json.loads(line)
        for line in e2e.host.log("serve").read_text().splitlines()
        if line.startswith("{")
    ]
    asked = {(r["method"], r["path"]) for r in served if r["server"] == e2e.ids["e2e-service"]}
    assert ("POST", "/openstack/latest/password") in asked
    assert ("GET", "/openstack/2018-08-27/network_data.json") in asked


# -- hot-plug ------------------------------------------------------------------------


PLACES = ("guest NIC", "live XML", "saved XML", "guestmeta ips", "exporter", "service", "drive")


def _nova_ports(dom: Any, flags: int) -> str:
    try:
        return str(dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, NOVA_NS, flags))
    except libvirt.libvirtError:
        return ""


def _http(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return str(answer.read().decode())


def _guest_macs(dom: Any) -> str:
    return agent.shell(dom, "cat /sys/class/net/*/address")


def _drive_network_data(dom: Any) -> str:
    """network_data.json as the running domain's cdrom holds it (QEMU's open image)."""
    cd = media.current(dom)
    assert cd is not None and cd.source is not None
    return read_image(cd.source).files["openstack/latest/network_data.json"].decode()


def _guest_reads_drive(dom: Any) -> str:
    return agent.shell(
        dom,
        "mkdir -p /run/gm-cd && mount -r /dev/sr0 /run/gm-cd && "
        "cat /run/gm-cd/openstack/latest/network_data.json; umount /run/gm-cd",
    )


def _state(e2e: Cloud, mac: str, ip: str) -> dict[str, bool]:
    """Where the spare port shows, each place an operator or the guest would look."""
    dom = e2e.doms["e2e-drive"]
    service = f"http://127.0.0.1:{e2e.ports['e2e-drive']}/openstack/latest/network_data.json"
    ips = json.loads(e2e.host.command("ips", "--format", "json").stdout)
    metrics = _http(f"http://127.0.0.1:{e2e.exporter}/metrics")
    return {
        "guest NIC": mac in _guest_macs(dom),
        "live XML": ip in _nova_ports(dom, libvirt.VIR_DOMAIN_AFFECT_LIVE),
        "saved XML": ip in _nova_ports(dom, libvirt.VIR_DOMAIN_AFFECT_CONFIG),
        "guestmeta ips": any(row.get("ip") == ip for row in _rows(ips)),
        "exporter": f'ip="{ip}"' in metrics,
        "service": mac in _http(service),
        "drive": mac in _drive_network_data(dom),
    }


def _rows(ips: Any) -> list[dict[str, Any]]:
    return ips if isinstance(ips, list) else list(ips.get("addresses", ips))


def _until_everywhere(e2e: Cloud, mac: str, ip: str, shown: bool) -> dict[str, bool]:
    """Wait until the port shows (or is gone) in every place; what each says at the end."""
    deadline = time.monotonic() + 90
    while True:
        state = _state(e2e, mac, ip)
        if all(v == shown for v in state.values()) or time.monotonic() > deadline:
            return state


def test_a_port_plugged_into_a_running_guest_and_unplugged(e2e: Cloud) -> None:
    wait_report(e2e, "e2e-drive")
    dom = e2e.doms["e2e-drive"]
    mac, ip = cloud.mac(1, 3), "172.16.77.1"
    assert _state(e2e, mac, ip) == dict.fromkeys(PLACES, False)

    e2e.host.command("port", "attach", SPARE, "e2e-drive", "--vif-source", "user")
    assert _until_everywhere(e2e, mac, ip, True) == dict.fromkeys(PLACES, True)
    assert mac in _guest_reads_drive(dom)  # the guest itself reads the swapped drive

    e2e.host.command("port", "detach", SPARE)
    assert _until_everywhere(e2e, mac, ip, False) == dict.fromkeys(PLACES, False)
    assert mac not in _guest_reads_drive(dom)
