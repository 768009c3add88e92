"""Benchmark: the same ASGI app under uvicorn (as ``guestmeta serve`` runs it) and granian.

Both serve one proxy listener with the same store, settings and number of workers, and
answer the same wrk load as ``bench/serve.py`` (10,000 servers, identity resolved from
signed headers on every request, access log off); nginx serving the same bytes as static
files is the baseline. granian cannot take sockets bound beforehand, so it runs a plain
address listener it binds itself, with the app built by :func:`granian_app` in each of its
worker processes (the same ``worker_apps`` a ``guestmeta serve`` worker calls). The
metrics stay in multiprocess files for both, as in production. A bare ASGI app (fixed
bytes, nothing read from the request) under each server shows what the server itself
allows, and so how much of the gap to nginx is the app's.

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

import serve_app
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
# Our app under each server, then a bare ASGI app under each, then the static baseline.
SERVERS = ("uvicorn", "granian", "bare-uvicorn", "bare-granian", "nginx")


def granian_app() -> Any:
    """granian's factory: the app of the one listener in the bench's settings file."""
    settings = load_settings(Path(os.environ[CONFIG_ENV]), {})
    apps, _close = worker_apps(settings, os.environ[DB_ENV], tokens.new_secret())
    return apps[0]


def bare_app() -> Any:
    """uvicorn's and granian's factory for the floor: fixed bytes, whatever is asked."""
    return serve_app.bare_app(b'{"bare": "' + b"x" * 1500 + b'"}')


def _command(server: str, port: int, workers: int, target: str) -> list[str]:
    where = ("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers))
    if server == "granian":
        return [
            str(Path(sys.executable).with_name("granian")),
            *("--interface", "asgi", "--http", "1", "--no-ws", "--loop", "uvloop"),
            *where,
            *("--log-level", "warning", "--no-access-log", "--factory"),
            *("--working-dir", str(Path(__file__).resolve().parent)),
            target,
        ]
    return [
        str(Path(sys.executable).with_name("uvicorn")),
        *("--http", "httptools", "--loop", "uvloop", "--lifespan", "off", "--no-access-log"),
        *where,
        *("--log-level", "warning", "--factory", "--app-dir", str(Path(__file__).parent)),
        target,
    ]


@contextmanager
def asgi_server(
    tmp: Path, db: str, workers: int, server: str, target: str = "serve_servers:granian_app"
) -> Iterator[int]:
    """``server`` (granian or uvicorn: ASGI, HTTP/1, uvloop) running the factory
    ``target`` (by default :func:`granian_app`) on a port of its own; stopped by its PID."""
    port = free_port()
    config = tmp / f"{server}-{port}.toml"
    config.write_text(service_config(port, free_port(), workers))
    metrics = tmp / f"{server}-{port}-metrics"
    metrics.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUESTMETA_")}
    env.update({CONFIG_ENV: str(config), DB_ENV: db, "PROMETHEUS_MULTIPROC_DIR": str(metrics)})
    log = tmp / f"{server}-{port}.log"
    process = subprocess.Popen(
        _command(server, port, workers, target),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    try:
        wait_ready(process, lambda: _answers(port), log, server)
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
        with asgi_server(tmp, db, run.workers, "granian") as port:
            results["granian_ready_s"] = round(time.perf_counter() - started, 1)
            results["granian"] = measure(tmp, port, callers, load)
        for server in ("uvicorn", "granian"):
            with asgi_server(tmp, db, run.workers, server, "serve_servers:bare_app") as port:
                results[f"bare-{server}"] = measure(tmp, port, callers, load)
        with nginx(tmp, tmp / "www", run.workers) as port:
            results["nginx"] = measure_nginx(tmp, port, callers, load)
    print(run.describe(len(callers), results))
    print(f"{'':20}{'server':>14}{'req/s':>9}{'p99 ms':>9}{'of nginx':>10}")
    results["ratio"] = {}
    for name in DOCUMENTS:
        baseline = results["nginx"][name]["rps"]
        for server in SERVERS:
            r = results[server][name]
            ratio = round(r["rps"] / baseline, 3)
            results["ratio"].setdefault(server, {})[name] = ratio
            print(f"{name:20}{server:>14}{r['rps']:>9}{r['p99_ms']:>9}{ratio:>10}")
    print(f"{'target':20}{'':>14}{'':>9}{'':>9}{'>= ' + str(TARGET_RATIO):>10}")
    results["target"] = {"ratio": TARGET_RATIO}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
