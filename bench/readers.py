"""Benchmark: how long a reader takes while an apply holds the write transaction open.

A store holding N servers (one port each) is opened by a second Store, which reads the
revision, a server by domain name through the Reader, and the whole topology, first with
no writer (the baseline) and then while a change sits inside its write transaction. Runs
on SQLite and on a PostgreSQL cluster it starts in a temporary directory; prints each
figure beside its baseline and the 100 ms target; the last line is one JSON object.

    .venv/bin/python bench/readers.py [--servers N] [--rounds N] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.pgcluster import PostgresCluster

from guestmeta.apply import load_document, plan_apply
from guestmeta.model import Plan, Topology
from guestmeta.store import Store

TARGET_MS = 100.0


def body(servers: int) -> str:
    ports = [{"id": f"p{i}", "name": f"p{i}", "network_id": "net"} for i in range(servers)]
    items = [
        {"id": f"s{i}", "name": f"s{i}", "networks": [{"port": f"p{i}"}]} for i in range(servers)
    ]
    return json.dumps(
        {
            "networks": [{"id": "net", "name": "net"}],
            "subnets": [{"id": "sub", "name": "sub", "network_id": "net", "cidr": "10.0.0.0/16"}],
            "ports": ports,
            "servers": items,
        }
    )


def read_ms(url: str, rounds: int) -> dict[str, float]:
    """Median and worst of each read, in milliseconds, from a freshly opened store."""
    times: dict[str, list[float]] = {"open+revision": [], "by_domain": [], "load": []}
    for _ in range(rounds):
        started = time.perf_counter()
        with Store(url) as store:
            store.revision()
            times["open+revision"].append(time.perf_counter() - started)
            started = time.perf_counter()
            with store.reader() as r:
                r.server_by_domain("s1")
            times["by_domain"].append(time.perf_counter() - started)
            started = time.perf_counter()
            store.load()
            times["load"].append(time.perf_counter() - started)
    return {
        f"{name}_{kind}_ms": round(func(values) * 1000, 2)
        for name, values in times.items()
        for kind, func in (("median", statistics.median), ("max", max))
    }


def run(url: str, servers: int, rounds: int) -> dict[str, Any]:
    with Store(url) as store:
        doc = load_document("bench.json", text=body(servers))
        store.change(lambda current: plan_apply(current, [doc]))
        baseline = read_ms(url, rounds)
        inside, release = threading.Event(), threading.Event()

        def held(current: Topology) -> Plan:
            inside.set()
            release.wait(600)
            more = load_document("more.json", text='{"networks": [{"id": "n2", "name": "n2"}]}')
            return plan_apply(current, [doc, more])

        writer = threading.Thread(target=lambda: store.change(held))
        writer.start()
        inside.wait(60)
        try:
            during = read_ms(url, rounds)
        finally:
            release.set()
            writer.join()
    return {"baseline": baseline, "during_write": during}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"servers": args.servers, "target_ms": TARGET_MS}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = run(f"sqlite:///{tmp}/bench.db", args.servers, args.rounds)
    if not args.skip_postgres:
        cluster = PostgresCluster(fast=False, port=54340).start()
        try:
            url = cluster.create_database("bench")
            results["postgresql"] = run(url, args.servers, args.rounds)
        finally:
            cluster.stop()
    print(f"{'':12}{'read':>16}{'baseline ms':>14}{'during write ms':>18}  (median / max)")
    for backend in ("sqlite", "postgresql"):
        if backend not in results:
            continue
        base, during = results[backend]["baseline"], results[backend]["during_write"]
        for name in ("open+revision", "by_domain", "load"):
            print(
                f"{backend:12}{name:>16}"
                f"{base[name + '_median_ms']:>7} / {base[name + '_max_ms']:<5}"
                f"{during[name + '_median_ms']:>10} / {during[name + '_max_ms']:<6}"
            )
    print(f"{'target':12}{'open+revision':>16}{'':>14}{'< ' + str(TARGET_MS):>13}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
