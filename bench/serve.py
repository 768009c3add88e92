"""Benchmark: ``guestmeta serve`` beside nginx serving the same bytes, measured with wrk.

A SQLite store gets 10,000 servers (two ports each, fixed addresses; the topology of
``bench/apply.py``). ``guestmeta serve`` runs with N workers and one proxy listener, so
every request resolves its caller from Neutron's signed headers (the signature compared
in constant time, the tenant checked); wrk's Lua script cycles over precomputed header
triples for many servers. The access log is off for the run (``access_log = false``): one
JSON line per request to a file would measure the disk, not the service. The per-server
rate limit stays at its default (it never triggers: requests are spread over 2,000
servers, each asked far less than 100 times a second).

nginx (Debian's) serves the very bytes the service answered, as static files (one file
per server and document, asked with the very same headers by the same kind of Lua
script) with the same number of workers and its access log off. Both run at once and
are measured in turns, three rounds of ours then nginx's, the median of each reported
with every run's figure: these machines are shared, and a slower minute then falls on
both rather than on whichever was measured in it. Last, the service is paced at half its
peak rate to read its p99 under load that leaves headroom, and nginx at the same rate, which
shows how much of that tail is the machine's (other processes, the scheduler) rather than
the service's. A paced connection waits a random 0 to ``2 * pace`` ms (wrk's Lua
``delay()``) after each answer, and the number of connections that gives the rate is
found by short runs (see :func:`paced`). With the default pace (1 ms) that is about as
many connections as the peak runs use, so only the rate differs. A longer pace needs
many more connections for the same rate (``--pace-ms 10``: some 180), and on a
two-core machine shared with wrk their bursts measure the scheduler more than either
server: nginx's own p99 then passes 5 ms.
Each wrk run is short; the whole run takes about five minutes. Other load on the machine
skews every figure (the load average is printed): read them side by side.

    .venv/bin/python bench/serve.py [--servers N] [--workers N] [--duration S]
        [--connections N] [--threads N] [--cycle N] [--pace-ms MS]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from apply import dump  # bench/apply.py: the same 10,000-server topology
from guestmeta.apply import load_document, plan_apply
from guestmeta.service.identity import sign
from guestmeta.store import Store

DOCUMENTS = ("meta_data.json", "network_data.json")
SECRET = "bench-proxy-secret"
TARGET_RATIO = 0.5  # of nginx's rate
TARGET_P99_MS = 5.0  # at half our peak rate
PACED_RUNS = 3
PEAK_RUNS = 3
SAFE = re.compile(r"^[A-Za-z0-9./_:-]*$")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_store(tmp: Path, servers: int) -> tuple[str, list[tuple[str, str]]]:
    """A SQLite store with ``servers`` servers; (store URL, [(server id, tenant id)])."""
    body, _pairs = dump(servers)
    url = f"sqlite:///{tmp / 'store.db'}"
    document = load_document("bench.json", text=json.dumps(body))
    with Store(url) as store:
        store.change(lambda current: plan_apply(current, [document]))
    return url, [(s["id"], s["tenant_id"]) for s in body["servers"]]


def proxy_headers(server_id: str, tenant_id: str) -> dict[str, str]:
    return {
        "X-Instance-ID": server_id,
        "X-Tenant-ID": tenant_id,
        "X-Instance-ID-Signature": sign(SECRET, server_id),
    }


def _lua(text: str) -> str:
    if not SAFE.match(text):
        raise ValueError(f"not a plain token: {text!r}")
    return f'"{text}"'


def lua_script(requests: Sequence[tuple[str, dict[str, str]]], delay_ms: int = 0) -> str:
    """A wrk script that cycles over ``requests`` (path, headers), each thread from its own
    offset; with ``delay_ms`` each connection waits a random 0 to ``2 * delay_ms`` ms before
    each request (arrivals spread out as guests' are, not in lockstep bursts). Its
    ``done`` prints one ``WRK_RESULT`` JSON line (latencies in microseconds)."""
    rows = []
    for path, headers in requests:
        fields = ", ".join(f"[{_lua(k)}] = {_lua(v)}" for k, v in headers.items())
        rows.append(f"  {{{_lua(path)}, {{{fields}}}}},")
    pacing = f"function delay()\n  return math.random(0, {2 * delay_ms})\nend\n" if delay_ms else ""
    return (
        "local entries = {\n"
        + "\n".join(rows)
        + "\n}\n"
        + """local threads = 0
function setup(thread)
  thread:set("offset", threads * 7919)
  threads = threads + 1
end
local prepared = {}
local i = 0
function init(args)
  for k, entry in ipairs(entries) do
    local headers = entry[2]
    headers["Host"] = wrk.host .. ":" .. wrk.port
    prepared[k] = wrk.format("GET", entry[1], headers)
  end
  i = (offset or 0) % #prepared
end
function request()
  i = i % #prepared + 1
  return prepared[i]
end
"""
        + pacing
        + """function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"non_2xx": %d, "socket_errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""
    )


@dataclass(frozen=True)
class Load:
    threads: int
    connections: int
    duration: int
    pace_ms: int = 1  # a paced connection waits 0 to 2 * pace_ms (pace_ms on average)


def wrk(tmp: Path, url: str, script: str, load: Load) -> dict[str, float]:
    """One wrk run: requests/s, p50 and p99 in ms; fails on any error or non-2xx answer."""
    path = tmp / f"wrk-{abs(hash(script))}.lua"
    path.write_text(script)
    command = [
        "wrk",
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{load.duration}s",
        "--timeout",
        "5s",
        "-s",
        str(path),
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {done.stdout}{done.stderr}")
    result = json.loads(line.split(" ", 1)[1])
    if result["non_2xx"] or result["socket_errors"]:
        raise RuntimeError(f"wrk saw failures against {url}: {result}")
    return {
        "rps": round(result["requests"] / (result["duration_us"] / 1e6)),
        "p50_ms": round(result["p50_us"] / 1000, 3),
        "p99_ms": round(result["p99_us"] / 1000, 3),
    }


def wait_ready(process: subprocess.Popen[bytes], probe: Any, log: Path, what: str) -> None:
    deadline = time.monotonic() + 300
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited: {log.read_text()[-2000:]}")
        try:
            if probe():
                return
        except (OSError, ValueError, http.client.HTTPException):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready in time: {log.read_text()[-2000:]}")
        time.sleep(0.1)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group the bench started, SIGKILL if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _get_json(port: int, path: str) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def service_config(port: int, admin: int, workers: int) -> str:
    return f"""admin_listen = "127.0.0.1:{admin}"
workers = {workers}
proxy_shared_secret = "{SECRET}"
access_log = false
[[listen]]
address = "127.0.0.1:{port}"
mode = "proxy"
"""


@contextmanager
def guestmeta_serve(tmp: Path, db: str, workers: int) -> Iterator[int]:
    """``guestmeta serve`` as an operator starts it; yields its port once every worker is
    ready (each has built the snapshot of all servers)."""
    port, admin = free_port(), free_port()
    config = tmp / "serve.toml"
    config.write_text(service_config(port, admin, workers))
    log = tmp / "serve.log"
    guestmeta = str(Path(sys.executable).with_name("guestmeta"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUESTMETA_")}
    process = subprocess.Popen(
        [guestmeta, "--db", db, "serve", "--config", str(config)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    try:
        wait_ready(process, lambda: _get_json(admin, "/healthz")["ready"], log, "guestmeta")
        yield port
    finally:
        stop_process(process)


def fetch_documents(port: int, callers: Sequence[tuple[str, str]], root: Path) -> int:
    """Write what the service answers for each caller as ``root/<server>/<document>``."""
    total = 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for server_id, tenant_id in callers:
            (root / server_id).mkdir(parents=True)
            for name in DOCUMENTS:
                headers = proxy_headers(server_id, tenant_id)
                conn.request("GET", f"/openstack/latest/{name}", headers=headers)
                response = conn.getresponse()
                body = response.read()
                if response.status != 200:
                    raise RuntimeError(f"{server_id} {name}: {response.status} {body[:200]!r}")
                (root / server_id / name).write_bytes(body)
                total += 1
    finally:
        conn.close()
    return total


NGINX_CONF = """daemon off;
worker_processes {workers};
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    server_tokens off;
    etag off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path {tmp}/nginx-body;
    types {{ application/json json; }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


@contextmanager
def nginx(tmp: Path, root: Path, workers: int) -> Iterator[int]:
    """Debian's nginx on a loopback port serving ``root``; stopped by its PID."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(workers=workers, tmp=tmp, port=port, root=root))
    for path in (tmp, *root.rglob("*"), root):  # its workers may run as another user
        path.chmod(0o755 if path.is_dir() else 0o644)
    log = tmp / "nginx.log"
    process = subprocess.Popen(
        [binary, "-p", str(tmp), "-c", str(conf)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def up() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    try:
        wait_ready(process, up, log, "nginx")
        yield port
    finally:
        stop_process(process)


def service_requests(callers: Sequence[tuple[str, str]], name: str) -> list[Any]:
    return [(f"/openstack/latest/{name}", proxy_headers(s, t)) for s, t in callers]


def nginx_requests(callers: Sequence[tuple[str, str]], name: str) -> list[Any]:
    """The same requests, headers and all (nginx reads and ignores them), for the file."""
    return [(f"/{s}/{name}", proxy_headers(s, t)) for s, t in callers]


def paced(tmp: Path, url: str, requests: list[Any], rate: float, load: Load) -> dict[str, Any]:
    """p50/p99 with the load held at ``rate`` requests/s (within 5% when it can be).

    A paced connection sends a request, waits for its answer, then waits 0 to
    ``2 * load.pace_ms`` ms: the rate is then set by how many connections there are, and the
    answer's own time, which is not known beforehand, is part of each cycle. Short runs
    find the number first. The measured run is repeated (``PACED_RUNS``) and the one with
    the median p99 reported, with every run's p99 beside it: one scheduler hiccup on a
    shared two-core machine moves a single run's p99 by milliseconds."""
    script = lua_script(requests, load.pace_ms)
    connections = max(load.threads, round(rate * (load.pace_ms + 0.5) / 1000))
    for _ in range(4):
        probe = wrk(tmp, url, script, Load(load.threads, connections, 2))
        if abs(probe["rps"] - rate) <= 0.05 * rate:
            break
        connections = max(load.threads, round(connections * rate / probe["rps"]))
    steady = Load(load.threads, connections, load.duration)
    runs = sorted((wrk(tmp, url, script, steady) for _ in range(PACED_RUNS)), key=_p99)
    middle = runs[len(runs) // 2]
    return {
        "target_rps": round(rate),
        "connections": connections,
        **middle,
        "p99_ms_runs": [run["p99_ms"] for run in runs],
    }


def _p99(run: dict[str, float]) -> float:
    return run["p99_ms"]


def measure_side_by_side(
    tmp: Path, ours: int, theirs: int, callers: Sequence[tuple[str, str]], load: Load
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Both servers up at once, measured in turns: peak rate and p99 per document, the
    median of ``PEAK_RUNS`` runs each, ours then nginx's in every round, so that a slower
    minute of the machine (these are shared hosts) falls on both; then each paced at half
    our peak. Returns (ours, nginx's)."""
    urls = {"ours": f"http://127.0.0.1:{ours}", "nginx": f"http://127.0.0.1:{theirs}"}
    scripts = {
        name: {
            "ours": lua_script(service_requests(callers, name)),
            "nginx": lua_script(nginx_requests(callers, name)),
        }
        for name in DOCUMENTS
    }
    for side in urls:  # warm both up
        wrk(tmp, urls[side], scripts[DOCUMENTS[0]][side], Load(1, 8, 1))
    out: dict[str, dict[str, dict[str, Any]]] = {"ours": {}, "nginx": {}}
    for name in DOCUMENTS:
        runs: dict[str, list[dict[str, float]]] = {"ours": [], "nginx": []}
        for _ in range(PEAK_RUNS):
            for side in urls:
                runs[side].append(wrk(tmp, urls[side], scripts[name][side], load))
        for side, measured in runs.items():
            measured.sort(key=_rps)
            out[side][name] = {
                **measured[len(measured) // 2],
                "rps_runs": [run["rps"] for run in measured],
            }
    for name in DOCUMENTS:
        rate = out["ours"][name]["rps"] / 2
        for side, requests in (
            ("ours", service_requests(callers, name)),
            ("nginx", nginx_requests(callers, name)),
        ):
            out[side][name]["half_peak"] = paced(tmp, urls[side], requests, rate, load)
    return out["ours"], out["nginx"]


def _rps(run: dict[str, float]) -> float:
    return run["rps"]


def measure_nginx(
    tmp: Path,
    port: int,
    callers: Sequence[tuple[str, str]],
    load: Load,
    ours: dict[str, dict[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Peak rate and p99 per document; with ``ours``, also p99 at the rate ours was paced
    at, which tells the machine's own tail from the service's."""
    url = f"http://127.0.0.1:{port}"
    out: dict[str, dict[str, Any]] = {}
    for name in DOCUMENTS:
        out[name] = wrk(tmp, url, lua_script(nginx_requests(callers, name)), load)
    for name in DOCUMENTS if ours else ():
        rate = ours[name]["half_peak"]["target_rps"]
        out[name]["half_peak"] = paced(tmp, url, nginx_requests(callers, name), rate, load)
    return out


def report(ours: dict[str, dict[str, Any]], theirs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Print the side-by-side table; the ratios."""
    head = f"{'guestmeta req/s':>16}{'p99 ms':>9}{'nginx req/s':>13}{'p99 ms':>9}"
    print(f"{'':20}{head}{'ratio':>8}")
    ratios = {}
    for name in DOCUMENTS:
        o, n = ours[name], theirs[name]
        ratios[name] = round(o["rps"] / n["rps"], 3)
        print(
            f"{name:20}{o['rps']:>16}{o['p99_ms']:>9}{n['rps']:>13}{n['p99_ms']:>9}"
            f"{ratios[name]:>8}  {o.get('rps_runs', '')} {n.get('rps_runs', '')}"
        )
    print(f"{'target':20}{'':>16}{'':>9}{'':>13}{'':>9}{'>= ' + str(TARGET_RATIO):>8}")
    print(
        f"paced at half our peak (target p99 < {TARGET_P99_MS} ms; nginx at the same rate;"
        f" the median p99 of {PACED_RUNS} runs, then each run's):"
    )
    for name in DOCUMENTS:
        o, n = ours[name]["half_peak"], theirs[name]["half_peak"]
        runs = f"{o['p99_ms_runs']} {n['p99_ms_runs']}"
        print(f"{name:20}{o['rps']:>16}{o['p99_ms']:>9}{n['rps']:>13}{n['p99_ms']:>9}  {runs}")
    return {"ratio": ratios}


@dataclass(frozen=True)
class Run:
    """What every serve bench takes from its command line."""

    servers: int
    workers: int
    cycle: int
    load: Load

    @classmethod
    def from_args(cls, description: str | None) -> Run:
        parser = argparse.ArgumentParser(description=description)
        parser.add_argument("--servers", type=int, default=10_000)
        parser.add_argument("--workers", type=int, default=2, help="workers of every server")
        parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
        parser.add_argument("--connections", type=int, default=32)
        parser.add_argument("--threads", type=int, default=2, help="wrk threads")
        parser.add_argument("--cycle", type=int, default=2000, help="servers requests cycle over")
        parser.add_argument(
            "--pace-ms", type=int, default=1, help="mean wait after each paced answer"
        )
        args = parser.parse_args()
        for tool in ("wrk", "nginx"):
            if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
                sys.exit(f"{tool} is not installed (scripts/install.sh installs it)")
        load = Load(args.threads, args.connections, args.duration, args.pace_ms)
        return cls(args.servers, args.workers, args.cycle, load)

    def results(self) -> dict[str, Any]:
        """The settings of the run, the first keys of the final JSON line."""
        load = self.load
        return {
            "servers": self.servers,
            "workers": self.workers,
            "wrk": {
                "threads": load.threads,
                "connections": load.connections,
                "s": load.duration,
                "pace_ms": load.pace_ms,
            },
            "access_log": False,
            "load_average": round(os.getloadavg()[0], 2),
        }

    def store(self, tmp: Path, results: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
        """The store, and the ``cycle`` callers spread over it that the requests cycle over."""
        started = time.perf_counter()
        db, callers = make_store(tmp, self.servers)
        results["apply_s"] = round(time.perf_counter() - started, 1)
        return db, callers[:: max(1, len(callers) // self.cycle)][: self.cycle]

    def describe(self, asked: int, results: dict[str, Any]) -> str:
        load = self.load
        return (
            f"{self.servers} servers in the store, requests over {asked} of them; "
            f"{self.workers} workers each; access log off; wrk -t{load.threads} "
            f"-c{load.connections} -d{load.duration}s; load average {results['load_average']}"
        )


def main() -> None:
    run = Run.from_args(__doc__)
    load = run.load
    results = run.results()
    with tempfile.TemporaryDirectory(prefix="guestmeta-bench-") as name:
        tmp = Path(name)
        db, callers = run.store(tmp, results)
        root = tmp / "www"
        started = time.perf_counter()
        with guestmeta_serve(tmp, db, run.workers) as port:
            results["ready_s"] = round(time.perf_counter() - started, 1)
            fetch_documents(port, callers, root)
            with nginx(tmp, root, run.workers) as static:
                ours, theirs = measure_side_by_side(tmp, port, static, callers, load)
        results["guestmeta"], results["nginx"] = ours, theirs
    print(run.describe(len(callers), results))
    results.update(report(results["guestmeta"], results["nginx"]))
    results["target"] = {"ratio": TARGET_RATIO, "p99_ms_at_half_peak": TARGET_P99_MS}
    results["met"] = all(
        results["ratio"][name] >= TARGET_RATIO
        and results["guestmeta"][name]["half_peak"]["p99_ms"] < TARGET_P99_MS
        for name in DOCUMENTS
    )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
