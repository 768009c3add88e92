"""Benchmark: a fleet of compute hosts on one PostgreSQL store, simulated on this machine.

Each host runs the shipped ``guestmeta agent`` (on a libvirt test-driver node holding its
domains) and ``guestmeta serve`` (one Neutron-proxy listener, ``--host``), all on one store
(see tests/scale/fleet.py). Measures, against the targets:

- the rate of single-server changes one writer gets through ``store.change``;
- the delay from a change being stored until every affected host shows it, both in its
  service's answer and in its agent's log of writing the domain's element (p50, p99);
  every tenth change is a move to another host (its old host must answer 404 and remove
  the element);
- the fleet's transactions per second per host on the store at rest (30 s, nothing changing);
- each process's resident memory (the targets are set for 500 servers per host);
- beside them, the baseline: what a host reads for one change through its feed against
  reading the whole store, as every host did per change before the feed.

Prints a table; the last line is one JSON object.

    .venv/bin/python bench/scale.py [--hosts 50] [--servers-per-host 500] [--changes 200]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.scale.fleet import Fleet

TARGET_P99_S = 2.0
TARGET_QUERIES_PER_S_PER_HOST = 1.0
TARGET_RSS_MIB = 150  # per process, with 500 servers per host
RATE_CHANGES = 50  # back-to-back changes for the apply rate


def percentile(values: list[float], p: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--servers-per-host", type=int, default=500)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--rest", type=float, default=30.0, help="seconds at rest measured")
    parser.add_argument("--port", type=int, default=54351, help="PostgreSQL's port")
    args = parser.parse_args()

    rng = random.Random(3)
    results: dict[str, Any] = {"hosts": args.hosts, "servers_per_host": args.servers_per_host}
    started = time.monotonic()
    with Fleet(
        args.hosts,
        args.servers_per_host,
        port=args.port,
        movable=max(1, math.ceil(args.changes / 10 / args.hosts)),  # per host
        log=lambda line: print(line, flush=True),
    ) as fleet:
        results["servers"] = len(fleet.servers)
        results["start_s"] = round(time.monotonic() - started, 1)
        results["initial_apply_s"] = round(fleet.timings["apply_s"], 1)
        results["serve_has_host"] = fleet.serve_has_host
        ids = sorted(fleet.servers)

        # One writer, single-server changes back to back.
        count = min(RATE_CHANGES, args.changes)
        began = time.monotonic()
        rate_changes = [fleet.change_servers([rng.choice(ids)]) for _ in range(count)]
        results["apply_rate"] = round(count / (time.monotonic() - began), 2)
        fleet.latency(rate_changes[-1], timeout=120)  # the fleet caught up before timing
        print(f"apply rate: {results['apply_rate']} changes/s", flush=True)

        # The baseline: what one host reads for one change of one of its servers, through
        # its feed, against reading the whole store (what every host did per change before
        # the feed, and what still grows with every other host's servers).
        host = fleet.hosts[0]
        copy = fleet.store.read_host(host)
        feed_s, whole_s = [], []
        for _ in range(5):
            fleet.change_servers([rng.choice(fleet.on_host[host])])
            began = time.perf_counter()
            copy = fleet.store.catch_up(copy)
            feed_s.append(time.perf_counter() - began)
            began = time.perf_counter()
            fleet.store.load()
            whole_s.append(time.perf_counter() - began)
        results["host_read_per_change_s"] = {
            "feed": round(statistics.median(feed_s), 4),
            "whole_store_baseline": round(statistics.median(whole_s), 3),
        }

        # One change at a time, each followed to every host it affects.
        delays, move_delays = [], []
        movable = list(fleet.movable)
        rng.shuffle(movable)
        for i in range(args.changes):
            if i % 10 == 9 and movable:
                sid = movable.pop()
                move_delays.append(fleet.latency(fleet.move(sid, fleet.move_target(sid))))
                delays.append(move_delays[-1])
            else:
                delays.append(fleet.latency(fleet.change_servers([rng.choice(ids)])))
        results["changes"] = len(delays)
        results["change_to_host_p50_s"] = round(percentile(delays, 50), 3)
        results["change_to_host_p99_s"] = round(percentile(delays, 99), 3)
        results["change_to_host_max_s"] = round(max(delays), 3)
        if move_delays:
            results["move_to_hosts_p50_s"] = round(percentile(move_delays, 50), 3)
            results["move_to_hosts_max_s"] = round(max(move_delays), 3)
        print(f"followed {len(delays)} changes", flush=True)

        # At rest.
        time.sleep(5)
        results["db_connections"] = fleet.connections()
        results["db_queries_per_s_per_host_at_rest"] = round(fleet.queries_per_second(args.rest), 3)
        rss = fleet.rss()
        results["rss_mib"] = {
            kind: {"max": round(max(values), 1), "mean": round(statistics.mean(values), 1)}
            for kind, values in rss.items()
            if values
        }
        status = fleet.status()
        if status is not None:
            rows = status.get("hosts", [])
            results["status_rows_lagging"] = sum(1 for r in rows if r.get("lag"))
            results["status_rows_stale"] = sum(1 for r in rows if r.get("stale"))
        exited = fleet.exited()
        results["processes_exited"] = len(exited)
        for line in exited:
            print(line)
    results["total_s"] = round(time.monotonic() - started, 1)
    results["targets"] = {
        "p99_s": TARGET_P99_S,
        "queries_per_s_per_host": TARGET_QUERIES_PER_S_PER_HOST,
        "rss_mib": TARGET_RSS_MIB,
        "rss_at_servers_per_host": 500,
    }

    def row(name: str, value: object, target: str) -> None:
        print(f"{name:44}{value!s:>12}  {target}")

    print(
        f"\n{args.hosts} hosts x {args.servers_per_host} servers = {results['servers']}, "
        f"started in {results['start_s']} s"
    )
    row("apply rate (single-server changes/s)", results["apply_rate"], "")
    reads = results["host_read_per_change_s"]
    row("a host's read for one change, feed (s)", reads["feed"],
        f"baseline: the whole store, {reads['whole_store_baseline']} s")  # fmt: skip
    row("change -> every affected host, p50 (s)", results["change_to_host_p50_s"], "")
    row("change -> every affected host, p99 (s)", results["change_to_host_p99_s"],
        f"target < {TARGET_P99_S}")  # fmt: skip
    if move_delays:
        row("move -> both hosts, max (s)", results["move_to_hosts_max_s"], "")
    row("store transactions/s per host at rest", results["db_queries_per_s_per_host_at_rest"],
        f"target < {TARGET_QUERIES_PER_S_PER_HOST}")  # fmt: skip
    row("store connections", results["db_connections"], "")
    note = "" if args.servers_per_host == 500 else " (target set at 500 servers/host)"
    for kind, figures in results["rss_mib"].items():
        row(f"RSS {kind}, max / mean (MiB)", f"{figures['max']} / {figures['mean']}",
            f"target < {TARGET_RSS_MIB}{note}")  # fmt: skip
    print(json.dumps(results))


if __name__ == "__main__":
    main()
