"""Benchmark: the Python cost of one request in the service's ASGI app, without a server.

The app of a proxy listener is called directly (no sockets, no HTTP parsing) for
``meta_data.json`` and ``network_data.json`` of many servers, with every header a
Neutron proxy sends, both as ASGI and the direct way ``guestmeta serve`` answers a GET
(``answer_now``, then the body with its seed), and its CPU time per request is printed
beside that of a bare ASGI
app that answers the same bytes without looking at the request: the difference is what
identity, routing, the rate limit, the metrics and the random seed cost. Metrics are kept
in multiprocess files as under ``guestmeta serve``. ``--profile`` adds cProfile's top
functions for ``meta_data.json``.

    .venv/bin/python bench/serve_app.py [--servers N] [--requests N] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from serve import DOCUMENTS, make_store, proxy_headers, service_config

Scope = MutableMapping[str, Any]
ROUNDS = 25


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: MutableMapping[str, Any]) -> None:
    pass


def bare_app(body: bytes) -> Any:
    """The floor: an ASGI app that sends fixed bytes whatever is asked."""
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def scopes(callers: list[tuple[str, str]], name: str) -> list[Scope]:
    out = []
    for server_id, tenant_id in callers:
        headers = [(b"host", b"169.254.169.254"), (b"user-agent", b"Cloud-Init/23.1.1")]
        signed = proxy_headers(server_id, tenant_id)
        headers += [(k.lower().encode(), v.encode()) for k, v in signed.items()]
        out.append(
            {
                "type": "http",
                "method": "GET",
                "path": f"/openstack/latest/{name}",
                "headers": headers,
                "client": ("10.0.0.5", 40000),
            }
        )
    return out


def cpu_per_request(app: Any, requests: list[Scope], count: int) -> float:
    """Microseconds of CPU per call: the best of many short rounds, as other load on the
    machine (cache misses, stolen cycles) only ever adds to a round."""
    loop = asyncio.new_event_loop()

    async def run(n: int) -> None:
        for i in range(n):
            await app(requests[i % len(requests)], _receive, _send)

    try:
        loop.run_until_complete(run(min(count, 2000)))
        best = float("inf")
        for _ in range(ROUNDS):
            started = time.process_time()
            loop.run_until_complete(run(count // ROUNDS))
            best = min(best, (time.process_time() - started) / (count // ROUNDS))
        if os.environ.get("BENCH_PROFILE"):
            profile = cProfile.Profile()
            profile.enable()
            loop.run_until_complete(run(count))
            profile.disable()
            pstats.Stats(profile).sort_stats("tottime").print_stats(15)
        return best * 1e6
    finally:
        loop.close()


def direct_cpu_per_request(app: Any, requests: list[Scope], count: int) -> float:
    """Microseconds of CPU per request the way ``guestmeta serve`` answers a GET: the
    app's ``answer_now`` and the body's rendering (its fresh seed), without ASGI."""

    def run(n: int) -> None:
        for i in range(n):
            scope = requests[i % len(requests)]
            answer = app.answer_now("GET", scope["path"], scope["headers"], scope["client"])
            out: list[Any] = []
            answer.reply.render_into(out)

    run(min(count, 2000))
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.process_time()
        run(count // ROUNDS)
        best = min(best, (time.process_time() - started) / (count // ROUNDS))
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--servers", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="guestmeta-bench-") as name:
        tmp = Path(name)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(tmp)  # before prometheus_client loads
        from guestmeta.service.server import worker_apps
        from guestmeta.service.settings import load_settings

        db, callers = make_store(tmp, args.servers)
        config = tmp / "serve.toml"
        config.write_text(service_config(8775, 8776, 1))
        settings = load_settings(config, {})
        apps, close = worker_apps(settings, db, "bench-token-secret")
        results: dict[str, Any] = {"servers": args.servers, "requests": args.requests}
        try:
            for document in DOCUMENTS:
                requests = scopes(callers, document)
                body = (
                    apps[0]
                    .service.follower.current.files[callers[0][0]][f"openstack/latest/{document}"]
                    .body
                )
                profile = args.profile and document == DOCUMENTS[0]
                if profile:
                    os.environ["BENCH_PROFILE"] = "1"
                ours = cpu_per_request(apps[0], requests, args.requests)
                os.environ.pop("BENCH_PROFILE", None)
                direct = direct_cpu_per_request(apps[0], requests, args.requests)
                bare = cpu_per_request(bare_app(body), requests, args.requests)
                results[document] = {
                    "app_us": round(ours, 2),
                    "direct_us": round(direct, 2),
                    "bare_app_us": round(bare, 2),
                }
        finally:
            close()
    print(
        f"{'CPU per request':20}{'app by ASGI (us)':>18}{'app directly (us)':>19}"
        f"{'bare ASGI app (us)':>20}"
    )
    for document in DOCUMENTS:
        r = results[document]
        print(f"{document:20}{r['app_us']:>18}{r['direct_us']:>19}{r['bare_app_us']:>20}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
