"""Many compute hosts sharing one PostgreSQL store, simulated on one machine.

Each host is two processes of the shipped ``guestmeta`` command, as an operator starts
them: ``guestmeta agent`` on a libvirt test-driver node file holding that host's domains
(the test driver keeps its state in the agent's own memory), and ``guestmeta serve`` with
one Neutron-proxy listener (signed ``X-Instance-ID`` headers). All of them use one store
on a PostgreSQL cluster of our own, filled with ``hosts * servers_per_host`` servers, one
port each, on one shared network.

:class:`Fleet` is a context manager: leaving it, even on an exception, ends every process
it started by its PID (SIGTERM, then SIGKILL) and stops the cluster. Used by
``tests/scale/test_fleet.py`` (convergence under faults) and ``bench/scale.py`` (figures).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import ipaddress
import json
import os
import pwd
import random
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import psycopg

from guestmeta.apply import load_document, plan_apply
from guestmeta.demo.system import free_port, guestmeta_command, wait_http
from guestmeta.store import Store
from tests.pgcluster import PostgresCluster

DATABASE = "fleet"
SECRET = "fleet-proxy-secret"
STOP_WAIT = 10.0  # seconds a process gets to end after SIGTERM
# "2026-11-29 19:41:51,123 INFO instance-00000001: wrote live+config metadata
#  (store revision 5): name" -- the why in parentheses is "connected", "store revision N", ...
_WROTE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ (\S+): wrote (\S+) metadata "
    r"\((?:store revision (\d+)|[^)]*)\)"
)
_REMOVED = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ (\S+): no longer a server of host (\S+); "
    r"removed its element"
)


@dataclass(frozen=True)
class Event:
    """An agent's log line about one domain's element."""

    time: float
    kind: str  # "wrote" or "removed"
    revision: int | None  # the store revision that caused a write, when it was one


def log_time(stamp: str) -> float:
    """logging's ``asctime`` (local time, milliseconds) as a Unix time."""
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def sign(server_id: str, secret: str = SECRET) -> str:
    """What a Neutron metadata proxy sends as ``X-Instance-ID-Signature``."""
    return hmac.new(secret.encode(), server_id.encode(), hashlib.sha256).hexdigest()


def rss_mib(pid: int) -> float | None:
    """Resident memory of a process (VmRSS), in MiB; None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    """The direct child processes of ``pid`` (the service's workers)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(entry))
    return sorted(found)


def _group(pid: int) -> int | None:
    """The process group of ``pid``, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[2])


class FleetPostgres(PostgresCluster):
    """:class:`PostgresCluster` with room for many connections, and a restart that keeps
    its data directory and port."""

    def __init__(self, port: int, max_connections: int = 600) -> None:
        super().__init__(fast=True, port=port)
        self.max_connections = max_connections

    def start(self) -> FleetPostgres:
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        self._start()
        return self

    def _start(self) -> None:
        options = (
            f"-k {self.dir} -c listen_addresses='' -p {self.port} "
            f"-c max_connections={self.max_connections} -c shared_buffers=256MB "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"),
                  "-w", "-t", "60", "start")  # fmt: skip
        self.pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])

    def _halt(self) -> None:
        """Fast shutdown (SIGINT) of the postmaster, waiting until it is gone."""
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGINT)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                os.kill(self.pid, 0)
                time.sleep(0.05)
            os.kill(self.pid, signal.SIGKILL)
            time.sleep(0.5)
        except ProcessLookupError:
            pass
        self.pid = None

    def restart(self) -> None:
        self._halt()
        self._start()

    def stop(self) -> None:
        self._halt()
        shutil.rmtree(self.dir, ignore_errors=True)

    def connect(self, database: str = "postgres") -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=str(self.dir), port=self.port, user="postgres", dbname=database, autocommit=True
        )


@dataclass
class ServerInfo:
    id: str
    index: int
    domain: str
    tenant: str
    mac: str
    address: str
    host: str  # where the harness last placed it
    gen: int = 0  # the gen the harness last wrote


@dataclass
class Proc:
    host: str
    kind: str  # "agent" or "serve"
    popen: subprocess.Popen[bytes]
    log: Path
    port: int = 0
    admin_port: int = 0

    @property
    def pid(self) -> int:
        return self.popen.pid


@dataclass
class Change:
    """One store change as the harness made it, and what each affected host should show."""

    revision: int
    t0: float  # time.time() when store.change returned
    # (host, server id, expected gen or None for "must answer 404")
    expect: list[tuple[str, str, int | None]] = field(default_factory=list)
    before: float = 0.0  # time.time() when store.change was called


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports nothing listens on now."""
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


class Fleet:
    """``hosts`` simulated compute hosts with ``servers_per_host`` servers each.

    ``movable``: per host, how many of its servers are also defined as domains on the next
    host's node file (host ``i+1``), so that :meth:`move` can send them there and the
    agent there finds the domain. Only those can move.
    """

    def __init__(
        self,
        hosts: int = 50,
        servers_per_host: int = 400,
        *,
        workdir: Path | None = None,
        port: int = 54351,
        movable: int = 4,
        batch: int = 10,
        interval: float = 600.0,
        log: Any = None,
    ) -> None:
        if hosts < 2:
            raise ValueError("a fleet needs at least two hosts")
        self.hosts = [f"host-{h:02d}" for h in range(hosts)]
        self.servers_per_host = servers_per_host
        self.own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="guestmeta-fleet-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.movable_count = min(movable, servers_per_host)
        self.batch = batch
        self.interval = interval
        self.say = log or (lambda text: None)
        self.cluster: FleetPostgres | None = None
        self.url = ""
        self.store: Store | None = None
        self.procs: list[Proc] = []
        self.agents: dict[str, Proc] = {}
        self.services: dict[str, Proc] = {}
        self.servers: dict[str, ServerInfo] = {}
        self.items: dict[str, dict[str, Any]] = {}  # server id -> its API item, as last applied
        self.on_host: dict[str, list[str]] = {h: [] for h in self.hosts}  # initial placement
        self.defined: dict[str, set[str]] = {h: set() for h in self.hosts}  # host -> server ids
        self.movable: list[str] = []
        self.moved: set[str] = set()  # servers a move was (perhaps) written for
        self.last_change: dict[str, Change] = {}  # server id -> its last change known stored
        self.uncertain: set[str] = set()  # servers whose last change may or may not be stored
        self.serve_has_host = False
        self.status_available = False
        self._write_lock = threading.Lock()
        self._http = threading.local()
        self.timings: dict[str, float] = {}

    # -- life cycle -----------------------------------------------------------------

    def __enter__(self) -> Fleet:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        started = time.monotonic()
        self.cluster = FleetPostgres(self.port, max_connections=max(200, 8 * len(self.hosts) + 50))
        self.cluster.start()
        self.url = self.cluster.create_database(DATABASE)
        self.store = Store(self.url)
        self.timings["postgres_s"] = time.monotonic() - started

        started = time.monotonic()
        body = self._generate()
        document = load_document("fleet.json", text=json.dumps(body))
        self.store.change(lambda current: plan_apply(current, [document]))
        self.timings["apply_s"] = time.monotonic() - started
        self.say(f"applied {len(self.servers)} servers in {self.timings['apply_s']:.1f} s")

        self._write_nodes()
        self._probe_commands()
        started = time.monotonic()
        self._start_processes()
        self.timings["processes_s"] = time.monotonic() - started
        self.say(f"started {len(self.procs)} processes in {self.timings['processes_s']:.1f} s")

    def stop(self) -> None:
        """End every process started here, by its PID (the services' workers too), then
        the cluster."""
        workers = {p.pid: children(p.pid) for p in self.procs if p.kind == "serve"}
        for proc in self.procs:
            if proc.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT
        for proc in self.procs:
            try:
                proc.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()
        for parent, pids in workers.items():  # a worker its supervisor did not end
            for pid in pids:
                if _group(pid) == parent:  # still ours (a PID is not reused that soon)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        if self.store is not None:
            with contextlib.suppress(Exception):
                self.store.close()
            self.store = None
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None
        if self.own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- the store's content ----------------------------------------------------------

    def _generate(self) -> dict[str, Any]:
        rng = random.Random(7)

        def uid() -> str:
            return str(uuid.UUID(int=rng.getrandbits(128), version=4))

        total = len(self.hosts) * self.servers_per_host
        cidr = ipaddress.ip_network("10.0.0.0/14")
        if total > cidr.num_addresses - 20:
            raise ValueError(f"{total} servers do not fit in {cidr}")
        net_id, sub_id = uid(), uid()
        network = {"id": net_id, "name": "fleet", "mtu": 1450, "status": "ACTIVE"}
        subnet = {
            "id": sub_id,
            "name": "fleet-v4",
            "network_id": net_id,
            "ip_version": 4,
            "cidr": str(cidr),
            "gateway_ip": str(cidr[1]),
            "enable_dhcp": True,
            "dns_nameservers": ["10.0.0.2"],
            "allocation_pools": [{"start": str(cidr[10]), "end": str(cidr[-2])}],
            "host_routes": [],
        }
        ports, servers = [], []
        tenants = [uid().replace("-", "") for _ in range(8)]
        for h, host in enumerate(self.hosts):
            for s in range(self.servers_per_host):
                i = h * self.servers_per_host + s
                sid, port_id = uid(), uid()
                mac = f"fa:16:3e:{i >> 16 & 0xFF:02x}:{i >> 8 & 0xFF:02x}:{i & 0xFF:02x}"
                address = str(cidr[16 + i])
                tenant = tenants[i % len(tenants)]
                domain = f"instance-{i + 1:08x}"
                ports.append(
                    {
                        "id": port_id,
                        "name": "",
                        "network_id": net_id,
                        "mac_address": mac,
                        "fixed_ips": [{"subnet_id": sub_id, "ip_address": address}],
                        "device_id": sid,
                        "device_owner": "compute:nova",
                        "binding:vif_type": "ovs",
                        "binding:host_id": host,
                        "tenant_id": tenant,
                    }
                )
                item = {
                    "id": sid,
                    "name": f"vm-{h:02d}-{s:04d}",
                    "created": "2026-01-02T03:04:05Z",
                    "tenant_id": tenant,
                    "user_id": "9f8e7d6c5b4a49382716a5b4c3d2e1f0",
                    "OS-EXT-SRV-ATTR:instance_name": domain,
                    "OS-EXT-SRV-ATTR:host": host,
                    "OS-EXT-AZ:availability_zone": "nova",
                    "flavor": {
                        "original_name": "m1.small",
                        "vcpus": 1,
                        "ram": 2048,
                        "disk": 20,
                        "ephemeral": 0,
                        "swap": 0,
                        "extra_specs": {},
                    },
                    "metadata": {"gen": "0"},
                    "image": {"id": "c0ffee00-0000-4000-8000-000000000001"},
                }
                servers.append(item)
                self.items[sid] = item
                self.servers[sid] = ServerInfo(sid, i, domain, tenant, mac, address, host)
                self.on_host[host].append(sid)
                self.defined[host].add(sid)
                if s < self.movable_count:
                    self.movable.append(sid)
                    self.defined[self.hosts[(h + 1) % len(self.hosts)]].add(sid)
        return {"networks": [network], "subnets": [subnet], "ports": ports, "servers": servers}

    # -- libvirt test-driver nodes ----------------------------------------------------

    def node_file(self, host: str) -> Path:
        return self.workdir / host / "node.xml"

    def node_uri(self, host: str) -> str:
        return f"test://{self.node_file(host).absolute()}"

    def _write_nodes(self) -> None:
        for host in self.hosts:
            parts = [
                "<node>",
                "  <network><name>default</name><bridge name='virbr0'/><forward/>"
                "<ip address='192.168.122.1' netmask='255.255.255.0'/></network>",
            ]
            for sid in sorted(self.defined[host], key=lambda s: self.servers[s].index):
                server = self.servers[sid]
                parts.append(
                    f"  <domain type='test'><name>{escape(server.domain)}</name>"
                    f"<uuid>{server.id}</uuid><memory>65536</memory><vcpu>1</vcpu>"
                    "<os><type arch='x86_64'>hvm</type></os><devices>"
                    f"<interface type='network'><mac address='{server.mac}'/>"
                    "<source network='default'/></interface>"
                    "</devices></domain>"
                )
            parts.append("</node>")
            path = self.node_file(host)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(parts) + "\n")

    # -- processes --------------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        """The hosts' environment. Bytecode goes to a cache in the work directory (nothing is
        written into the tree), so that 150 processes do not each compile every module:
        with PYTHONDONTWRITEBYTECODE, as on this machine, that was half a second of CPU per
        process, a minute of the fleet's start."""
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        return dict(env, GUESTMETA_DB=self.url, PYTHONPYCACHEPREFIX=str(self.workdir / "pycache"))

    def _probe_commands(self) -> None:
        """Which of the flags and commands being added exist in this guestmeta."""
        done = subprocess.run(
            [guestmeta_command(), "serve", "--help"], env=self.env, capture_output=True, text=True
        )
        self.serve_has_host = "--host" in done.stdout
        done = subprocess.run(
            [guestmeta_command(), "status", "--help"], env=self.env, capture_output=True, text=True
        )
        self.status_available = done.returncode == 0 and "--format" in done.stdout
        self.say(
            f"serve --host: {'yes' if self.serve_has_host else 'not yet'}; "
            f"status: {'yes' if self.status_available else 'not yet'}"
        )

    def _spawn(self, host: str, kind: str, args: list[str]) -> Proc:
        log = self.workdir / host / f"{kind}.log"
        with open(log, "ab") as out:
            popen = subprocess.Popen(
                [guestmeta_command(), *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = Proc(host, kind, popen, log)
        self.procs.append(proc)
        return proc

    def _start_host(self, host: str) -> None:
        agent = self._spawn(
            host,
            "agent",
            [
                *("agent", "--host", host, "--connect", self.node_uri(host)),
                *("--interval", str(self.interval)),
            ],
        )
        self.agents[host] = agent
        port, admin = free_ports(2)
        config = self.workdir / host / "serve.toml"
        config.write_text(
            f'proxy_shared_secret = "{SECRET}"\n'
            'trusted_proxies = ["127.0.0.1"]\n'
            "access_log = false\n"
            "workers = 1\n"
            "[[listen]]\n"
            f'address = "127.0.0.1:{port}"\n'
            'mode = "proxy"\n'
        )
        args = ["serve"]
        if self.serve_has_host:
            args += ["--host", host]
        args += ["--admin-listen", f"127.0.0.1:{admin}", "--config", str(config)]
        serve = self._spawn(host, "serve", args)
        serve.port, serve.admin_port = port, admin
        self.services[host] = serve

    def _start_processes(self) -> None:
        for first in range(0, len(self.hosts), self.batch):
            group = self.hosts[first : first + self.batch]
            for host in group:
                self._start_host(host)
            for host in group:
                self._wait_ready(host, 180)

    def _wait_ready(self, host: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        serve = self.services[host]
        wait_http(f"http://127.0.0.1:{serve.admin_port}/healthz", timeout, serve.popen)
        while True:  # the service's worker built its first snapshot
            status, _ = self._get(serve.admin_port, "/healthz", {})
            if status == 200:
                break
            if serve.popen.poll() is not None:
                raise RuntimeError(f"{host}: serve exited ({serve.popen.returncode})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{host}: serve not ready within {timeout:g} s")
            time.sleep(0.2)
        agent = self.agents[host]
        while "connected: checked" not in agent.log.read_text(errors="replace"):
            if agent.popen.poll() is not None:
                raise RuntimeError(
                    f"{host}: agent exited ({agent.popen.returncode}): {self.tail(agent)}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"{host}: agent's first pass not done within {timeout:g} s")
            time.sleep(0.2)

    def exited(self) -> list[str]:
        """One line per process that is no longer running."""
        return [
            f"{p.host} {p.kind} (pid {p.pid}) exited with {p.popen.returncode}: {self.tail(p)}"
            for p in self.procs
            if p.popen.poll() is not None
        ]

    @staticmethod
    def tail(proc: Proc, lines: int = 5) -> str:
        try:
            text = proc.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    # -- asking the services ----------------------------------------------------------

    def _get(
        self, port: int, path: str, headers: dict[str, str], timeout: float = 5.0
    ) -> tuple[int, bytes]:
        """One GET on a kept-alive connection of this thread's (a new one when the
        service closed the old: it keeps idle ones 5 s)."""
        conns = self._http.__dict__.setdefault("conns", {})
        for attempt in (1, 2):
            conn = conns.get(port)
            if conn is None:
                conn = conns[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                body = response.read()
                if response.will_close:
                    conn.close()
                    del conns[port]
                return response.status, body
            except (http.client.HTTPException, OSError):
                conn.close()
                del conns[port]
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def metadata(self, host: str, server_id: str) -> tuple[int, Any]:
        """meta_data.json as ``host``'s service gives it to ``server_id`` through the
        Neutron proxy: (status, parsed JSON or None)."""
        server = self.servers.get(server_id)
        headers = {
            "X-Instance-ID": server_id,
            "X-Instance-ID-Signature": sign(server_id),
            "X-Tenant-ID": server.tenant if server else "",
            "X-Forwarded-For": server.address if server else "10.255.255.254",
        }
        status, body = self._get(
            self.services[host].port, "/openstack/latest/meta_data.json", headers
        )
        if status != 200:
            return status, None
        return status, json.loads(body)

    def served_gen(self, host: str, server_id: str) -> int | None:
        """The gen ``host``'s service shows ``server_id``, or None for any non-200."""
        status, data = self.metadata(host, server_id)
        if status != 200:
            return None
        return int(data["meta"]["gen"])

    def stale_answers(self, state: dict[str, tuple[str, int]], ids: Iterable[str]) -> list[str]:
        """One line per server of ``ids`` whose host (as ``state``, the store, says) does
        not answer with the store's gen."""
        lines = []
        for sid in ids:
            host, gen = state[sid]
            status, data = self.metadata(host, sid)
            if status != 200:
                lines.append(f"{host} answers {status} for its server {sid}")
            elif int(data["meta"]["gen"]) != gen or data["uuid"] != sid:
                lines.append(
                    f"{host} serves gen {data['meta']['gen']} of {data['uuid']} "
                    f"for {sid}, the store has gen {gen}"
                )
        return lines

    def foreign_answers(self, state: dict[str, tuple[str, int]], ids: Iterable[str]) -> list[str]:
        """One line per (host, server of ``ids``) where the store places the server
        elsewhere and that host does not answer 404."""
        lines = []
        for sid in ids:
            for host in self.hosts:
                if host != state[sid][0]:
                    status, _ = self.metadata(host, sid)
                    if status != 404:
                        lines.append(f"{host} answers {status} for {sid} of {state[sid][0]}")
        return lines

    # -- changes ----------------------------------------------------------------------

    def _apply(self, items: list[dict[str, Any]]) -> int:
        assert self.store is not None
        document = load_document("change.json", text=json.dumps({"servers": items}))
        result = self.store.change(lambda current: plan_apply(current, [document]))
        return int(result.revision)

    @staticmethod
    def _bumped(item: dict[str, Any]) -> dict[str, Any]:
        """The item with its gen one up: in its metadata (meta_data.json's ``meta``) and
        in its name (which the domain's ``nova:instance`` element carries too, where the
        metadata is not)."""
        item = json.loads(json.dumps(item))
        gen = int(item["metadata"]["gen"]) + 1
        item["metadata"]["gen"] = str(gen)
        item["name"] = f"{item['name'].split('.')[0]}.g{gen}"
        return item

    def change_servers(self, ids: Iterable[str]) -> Change:
        """Bump the ``gen`` of ``ids`` in one store change."""
        ids = list(ids)
        with self._write_lock:
            items = [self._bumped(self.items[sid]) for sid in ids]
            before = time.time()
            self.uncertain.update(ids)
            revision = self._apply(items)
            change = Change(revision, time.time(), before=before)
            for item in items:
                self.uncertain.discard(item["id"])
                self.last_change[item["id"]] = change
                self.items[item["id"]] = item
                server = self.servers[item["id"]]
                server.gen = int(item["metadata"]["gen"])
                change.expect.append((server.host, server.id, server.gen))
            return change

    def move(self, server_id: str, new_host: str) -> Change:
        """Place ``server_id`` on ``new_host`` (its domain must be defined there), and bump
        its gen in the same change."""
        if server_id not in self.defined[new_host]:
            raise ValueError(f"{server_id} has no domain on {new_host}")
        with self._write_lock:
            item = self._bumped(self.items[server_id])
            server = self.servers[server_id]
            old = server.host
            item["OS-EXT-SRV-ATTR:host"] = new_host
            # Marked before the write: a failed write may have committed all the same.
            self.moved.add(server_id)
            self.uncertain.add(server_id)
            before = time.time()
            revision = self._apply([item])
            change = Change(revision, time.time(), before=before)
            self.uncertain.discard(server_id)
            self.last_change[server_id] = change
            self.items[server_id] = item
            server.host, server.gen = new_host, int(item["metadata"]["gen"])
            change.expect.append((new_host, server_id, server.gen))
            if old != new_host:
                change.expect.append((old, server_id, None))
            return change

    def move_target(self, server_id: str) -> str:
        """The other host where ``server_id``'s domain is defined."""
        (other,) = (h for h in self.hosts if server_id in self.defined[h]
                    and h != self.servers[server_id].host)  # fmt: skip
        return other

    # -- how long a change takes to reach the hosts -------------------------------------

    def agent_events(self, host: str) -> dict[str, list[Event]]:
        """Domain -> what ``host``'s agent logged doing to its element, in order."""
        found: dict[str, list[Event]] = {}
        for line in self.agents[host].log.read_text(errors="replace").splitlines():
            m = _WROTE.match(line)
            if m:
                revision = int(m.group(4)) if m.group(4) else None
                found.setdefault(m.group(2), []).append(
                    Event(log_time(m.group(1)), "wrote", revision)
                )
                continue
            m = _REMOVED.match(line)
            if m:
                event = Event(log_time(m.group(1)), "removed", None)
                found.setdefault(m.group(2), []).append(event)
        return found

    def latency(self, change: Change, timeout: float = 30.0, poll: float = 0.02) -> float:
        """Seconds from ``change`` being stored until every affected host shows it: its
        service answers with the new gen (or 404 where the server left), and its agent
        logged writing the domain's element at that revision or later (or removing it)."""
        seen: dict[tuple[str, str], float] = {}
        deadline = time.monotonic() + timeout
        # Until ``serve --host`` exists every service serves every server: a host a server
        # left still answers for it, so only its agent's removal is waited for there.
        pending = [e for e in change.expect if e[2] is not None or self.serve_has_host]
        while pending:
            for entry in list(pending):
                host, sid, gen = entry
                status, data = self.metadata(host, sid)
                if (gen is None and status == 404) or (
                    gen is not None and status == 200 and int(data["meta"]["gen"]) >= gen
                ):
                    seen[(host, sid)] = time.time()
                    pending.remove(entry)
            if not pending:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"change at revision {change.revision} not served: {pending}")
            time.sleep(poll)
        latest = max(seen.values(), default=change.t0)
        for host, sid, gen in change.expect:
            domain = self.servers[sid].domain
            while True:
                events = self.agent_events(host).get(domain, [])
                if gen is None:  # its element removed after the change was made
                    since = change.before - 0.002  # the log's times are cut to milliseconds
                    times = [e.time for e in events if e.kind == "removed" and e.time >= since]
                else:  # written because of this revision or a later one
                    times = [e.time for e in events if (e.revision or -1) >= change.revision]
                if times:
                    latest = max(latest, min(times))
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{host}'s agent did not write {domain} at revision {change.revision}"
                    )
                time.sleep(poll)
        return max(0.0, latest - change.t0)

    # -- the database ---------------------------------------------------------------

    def _transactions(self) -> int:
        assert self.cluster is not None
        with self.cluster.connect() as conn:  # the postgres database: not counted
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
                (DATABASE,),
            ).fetchone()
        return int(row[0]) if row else 0

    def connections(self) -> int:
        assert self.cluster is not None
        with self.cluster.connect() as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (DATABASE,)
            ).fetchone()
        return int(row[0]) if row else 0

    def queries_per_second(self, seconds: float) -> float:
        """Transactions per second per host on the fleet's database over ``seconds`` of
        rest. The harness asks on the ``postgres`` database, so its own questions are not
        counted; its writer does nothing meanwhile. Statistics reach pg_stat_database
        when a backend's transaction ends (at most once a second) or within 10 s of it
        going idle, so the interval should be long (30 s or more)."""
        time.sleep(1.5)
        before = self._transactions()
        time.sleep(seconds)
        after = self._transactions()
        return (after - before) / seconds / len(self.hosts)

    def restart_postgres(self) -> None:
        assert self.cluster is not None
        self.cluster.restart()

    def kill_backends(self) -> int:
        """Terminate every backend on the fleet's database; how many were."""
        assert self.cluster is not None
        with self.cluster.connect() as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (DATABASE,),
            ).fetchall()
        return len(rows)

    def store_state(self) -> dict[str, tuple[str, int]]:
        """Server id -> (host, gen), as the store has it now."""
        assert self.store is not None
        topology = self.store.load()
        return {
            sid: (server.host, int(server.metadata.get("gen", "0")))
            for sid, server in topology.servers.items()
        }

    # -- the processes' figures -------------------------------------------------------

    def rss(self) -> dict[str, list[float]]:
        """Resident MiB per process kind: ``agent``, ``serve`` (the supervisor) and
        ``serve-worker`` (each worker it forked)."""
        out: dict[str, list[float]] = {"agent": [], "serve": [], "serve-worker": []}
        for proc in self.procs:
            value = rss_mib(proc.pid)
            if value is not None:
                out[proc.kind].append(value)
            if proc.kind == "serve":
                for child in children(proc.pid):
                    value = rss_mib(child)
                    if value is not None:
                        out["serve-worker"].append(value)
        return out

    def status(self) -> dict[str, Any] | None:
        """``guestmeta status --format json``, or None while the command does not exist."""
        if not self.status_available:
            return None
        done = subprocess.run(
            [guestmeta_command(), "status", "--format", "json"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if not done.stdout.strip():
            raise RuntimeError(f"guestmeta status failed ({done.returncode}): {done.stderr}")
        report: dict[str, Any] = json.loads(done.stdout)
        return report


__all__ = ["Change", "Event", "Fleet", "FleetPostgres", "ServerInfo", "sign"]
