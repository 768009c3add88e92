"""``guestmeta demo``: one real guest configured by guestmeta, and what an operator looks at.

It boots one server of the store as a small Debian guest under libvirt (QEMU), with the
agent, the metadata service and the exporter running as their own processes, exactly
as on a host:

1. the agent writes the server's ``<nova:instance>`` into the domain's XML and puts its
   config-2 drive on the domain's cdrom;
2. the guest boots, and cloud-init configures it from that drive;
3. the metadata service answers on a loopback port that is the server's own channel,
   which the guest reaches as its subnet's ``.2`` through QEMU's user network.

Then it prints ``guestmeta ips``, the guest's own view of its addresses (asked through
the QEMU guest agent), a metadata request, the exporter's series and where the XML is,
and holds everything up until Ctrl-C. The domain it defined, the processes it started
and its working directory all go when it stops, on Ctrl-C or on any failure.
"""

from __future__ import annotations

import ipaddress
import signal
import tempfile
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import libvirt

from guestmeta.demo import image as guest_image
from guestmeta.demo.guest import (
    GuestError,
    Nic,
    addresses,
    domain_xml,
    remove_domain,
    shell,
    wait_agent,
    wait_cloud_init,
    wait_config_drive,
)
from guestmeta.demo.system import Host, free_port
from guestmeta.libvirt import media
from guestmeta.libvirt.connection import open_connection
from guestmeta.model import Server, Topology
from guestmeta.store import Store

BOOT_TIMEOUT = 600.0  # seconds for the guest to come up under TCG


class DemoError(RuntimeError):
    """What stopped the demo, in one line."""


def _server(topology: Topology, ref: str) -> Server:
    for server in topology.servers.values():
        if ref in (server.id, server.name, server.domain_name):
            return server
    raise DemoError(f"no server {ref!r} in the store (guestmeta list servers)")


def nics_of(topology: Topology, server: Server) -> list[Nic]:
    """One user-network NIC per port, each pretending to be its port's first IPv4 subnet."""
    nics = []
    for port in topology.index.ports(server.id):
        subnet = None
        for fixed in port.fixed_ips:
            cidr = topology.subnets[fixed.subnet_id].cidr
            if ipaddress.ip_network(cidr).version == 4:
                subnet = cidr
                break
        nics.append(Nic(port.mac_address, subnet))
    if not nics:
        raise DemoError(f"server {server.name} has no port: nothing for the guest to configure")
    return nics


@contextmanager
def _domain(conn: Any, xml: str, name: str) -> Iterator[Any]:
    """Define the guest's domain; on the way out, stop it and remove its definition."""
    try:
        conn.lookupByName(name)
    except libvirt.libvirtError:
        pass
    else:
        raise DemoError(f"a domain named {name} exists already; the demo leaves it alone")
    dom = conn.defineXML(xml)
    try:
        yield dom
    finally:
        remove_domain(dom)


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return str(answer.read().decode())


def run_demo(
    db: str,
    server_ref: str,
    *,
    uri: str = "qemu:///system",
    hold: bool = True,
    say: Callable[[str], None] = print,
) -> None:
    """Boot ``server_ref``'s guest from the store at ``db`` and show it; see the module doc.

    Ctrl-C (KeyboardInterrupt) at any point stops it; the cleanup itself runs with
    SIGINT and SIGTERM held back, so a second Ctrl-C cannot leave a process or domain.
    """
    store = Store(db)
    try:
        topology = store.load()
    finally:
        store.close()
    server = _server(topology, server_ref)
    if not server.host:
        raise DemoError(f"server {server.name} has no host (OS-EXT-SRV-ATTR:host)")
    nics = nics_of(topology, server)
    say("guest image: building or reusing (the first build takes a few minutes) ...")
    image = guest_image.build(log=say)
    with ExitStack() as cleanup:
        try:
            workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="gm-demo-")))
            conn = open_connection(uri)  # and libvirt's own stderr printing off
            cleanup.callback(conn.close)
            host = Host(workdir, db, server.host, uri)
            cleanup.callback(host.stop)
            port, exporter = free_port(), free_port()
            host.start_agent(workdir / "drives")
            host.start_service({server.id: port})
            host.start_exporter(exporter)
            console = workdir / "console.log"
            disk = guest_image.overlay(image, workdir / "disk.qcow2")
            xml = domain_xml(server.domain_name, server.id, image, disk, console, nics)
            dom = cleanup.enter_context(_domain(conn, xml, server.domain_name))
            _boot(dom, console, say)
            _show(host, dom, nics[0], port, exporter, say)
            if hold:
                say("\nRunning: the agent, the service, the exporter and the guest.")
                say("Ctrl-C stops them all and removes the guest.")
                threading.Event().wait()
        finally:
            with _signals_held():
                cleanup.close()


@contextmanager
def _signals_held() -> Iterator[None]:
    held = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


def _boot(dom: Any, console: Path, say: Callable[[str], None]) -> None:
    try:
        wait_config_drive(dom)
    except GuestError as exc:
        raise DemoError(str(exc)) from exc
    dom.create()
    say(f"booting {dom.name()} under QEMU (TCG: about a minute); console: {console}")
    try:
        waited = wait_agent(dom, BOOT_TIMEOUT, console)
        wait_cloud_init(dom, BOOT_TIMEOUT)
    except GuestError as exc:
        tail = "\n".join(console.read_text(errors="replace").splitlines()[-30:])
        raise DemoError(f"{exc}\n--- console (last 30 lines) ---\n{tail}") from exc
    say(f"{dom.name()} is up ({waited:.0f} s to its agent); cloud-init has finished")


def _show(
    host: Host,
    dom: Any,
    nic: Nic,
    port: int,
    exporter: int,
    say: Callable[[str], None],
) -> None:
    name = dom.name()
    say("\n$ guestmeta ips   (every guest address on this host, read from domain XML)")
    say(host.command("ips").stdout.rstrip())
    say(f"\n# {name}'s own view of its addresses (QEMU guest agent)")
    for mac, addrs in sorted(addresses(dom).items()):
        say(f"{mac}  {'  '.join(addrs)}")
    say(f"\n# inside {name}: ip route")
    say(shell(dom, "ip route; ip -6 route").rstrip())
    url = f"http://127.0.0.1:{port}/openstack/latest/meta_data.json"
    say(f"\n$ curl {url}   (the guest asks http://{nic.host_address}:{port}/...)")
    say(_get(url)[:600].rstrip() + " ...")
    say("\n# the guest fetches its network_data.json from the service itself")
    inside = f"http://{nic.host_address}:{port}/openstack/latest/network_data.json"
    fetch = f"import urllib.request as u; print(u.urlopen('{inside}').read().decode()[:300])"
    fetched = shell(dom, f'python3 -c "{fetch}"')
    say(fetched.rstrip() + " ...")
    say(f"\n$ curl http://127.0.0.1:{exporter}/metrics | grep guestmeta_domain_ip_info")
    for line in _get(f"http://127.0.0.1:{exporter}/metrics").splitlines():
        if line.startswith("guestmeta_domain_ip_info{") and name in line:
            say(line)
    say(f"\n# the XML: virsh dumpxml {name} (live), /etc/libvirt/qemu/{name}.xml (saved):")
    say(f"#   <nova:instance> in <metadata>, and the config drive on the cdrom ({media.ALIAS})")
    say(f"# logs of agent, serve and exporter: {host.workdir}/*.log")


def on_sigterm_interrupt() -> None:
    """Make SIGTERM stop the demo as Ctrl-C does (with its cleanup), not kill it outright.

    SIGINT gets Python's own handler back too: a process started from a script in the
    background inherits SIGINT ignored, and Python then installs no handler at all.
    """

    def _interrupt(_sig: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)


__all__ = ["DemoError", "nics_of", "on_sigterm_interrupt", "run_demo"]
