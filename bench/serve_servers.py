"""Benchmark: the same ASGI app under uvicorn (as ``guestmeta serve`` runs it) and granian.

Both serve one proxy listener with the same store, settings and number of workers, and
answer the same wrk load as ``bench/serve.py`` (10,000 servers, identity resolved from
signed headers on every request, access log off); nginx serving the same bytes as static
files is the baseline. granian cannot take sockets bound beforehand, so it runs a plain
address listener it binds itself, with the app built by :func:`granian_app` in each of its
worker processes (the same ``worker_apps`` a ``guestmeta serve`` worker calls). The
metrics stay in multiprocess files for both, as in production.

    .venv/bin/python bench/serve_servers.py [--servers N] [--workers N] [--duration S]
        [--connections N] [--threads N] [--cycle N]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from guestmeta.service import tokens
from guestmeta.service.server import worker_apps
from guestmeta.service.settings import load_settings
from serve import (
    DOCUMENTS,
    TARGET_RATIO,
    Load,
    Run,
    fetch_documents,
    free_port,
    guestmeta_serve,
    lua_script,
    measure_nginx,
    nginx,
    service_config,
    service_requests,
    stop_process,
    wait_ready,
    wrk,
)

CONFIG_ENV, DB_ENV = "BENCH_GUESTMETA_CONFIG", "BENCH_GUESTMETA_DB"


def granian_app() -> Any:
    """granian's factory: the app of the one listener in the bench's settings file."""
    settings = load_settings(Path(os.environ[CONFIG_ENV]), {})
    apps, _close = worker_apps(settings, os.environ[DB_ENV], tokens.new_secret())
    return apps[0]


@contextmanager
def granian(tmp: Path, db: str, workers: int) -> Iterator[int]:
    """granian (ASGI, HTTP/1, uvloop) running :func:`granian_app`; stopped by its PID."""
    port = free_port()
    config = tmp / "granian.toml"
    config.write_text(service_config(port, free_port(), workers))
    metrics = tmp / "granian-metrics"
    metrics.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUESTMETA_")}
    env.update({CONFIG_ENV: str(config), DB_ENV: db, "PROMETHEUS_MULTIPROC_DIR": str(metrics)})
    log = tmp / "granian.log"
    command = [
        str(Path(sys.executable).with_name("granian")),
        *("--interface", "asgi", "--http", "1", "--no-ws", "--loop", "uvloop"),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
        *("--log-level", "warning", "--no-access-log", "--factory"),
        *("--working-dir", str(Path(__file__).resolve().parent)),
        "serve_servers:granian_app",
    ]
    process = subprocess.Popen(
        command, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    try:
        wait_ready(process, lambda: _answers(port), log, "granian")
        yield port
    finally:
        stop_process(process)


def _answers(port: int) -> bool:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/")
        return conn.getresponse().status == 200
    finally:
        conn.close()


def measure(
    tmp: Path, port: int, callers: list[tuple[str, str]], load: Load
) -> dict[str, dict[str, Any]]:
    url = f"http://127.0.0.1:{port}"
    wrk(tmp, url, lua_script(service_requests(callers, DOCUMENTS[0])), Load(1, 8, 2))
    return {
        name: wrk(tmp, url, lua_script(service_requests(callers, name)), load) for name in DOCUMENTS
    }


def main() -> None:
    run = Run.from_args(__doc__)
    load = run.load
    results = run.results()
    with tempfile.TemporaryDirectory(prefix="guestmeta-bench-") as name:
        tmp = Path(name)
        db, callers = run.store(tmp, results)
        with guestmeta_serve(tmp, db, run.workers) as port:
            fetch_documents(port, callers, tmp / "www")
            results["uvicorn"] = measure(tmp, port, callers, load)
        started = time.perf_counter()
        with granian(tmp, db, run.workers) as port:
            results["granian_ready_s"] = round(time.perf_counter() - started, 1)
            results["granian"] = measure(tmp, port, callers, load)
        with nginx(tmp, tmp / "www", run.workers) as port:
            results["nginx"] = measure_nginx(tmp, port, callers, load)
    print(run.describe(len(callers), results))
    print(f"{'':20}{'server':>10}{'req/s':>9}{'p99 ms':>9}{'of nginx':>10}")
    results["ratio"] = {}
    for name in DOCUMENTS:
        baseline = results["nginx"][name]["rps"]
        for server in ("uvicorn", "granian", "nginx"):
            r = results[server][name]
            ratio = round(r["rps"] / baseline, 3)
            results["ratio"].setdefault(server, {})[name] = ratio
            print(f"{name:20}{server:>10}{r['rps']:>9}{r['p99_ms']:>9}{ratio:>10}")
    print(f"{'target':20}{'':>10}{'':>9}{'':>9}{'>= ' + str(TARGET_RATIO):>10}")
    results["target"] = {"ratio": TARGET_RATIO}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
