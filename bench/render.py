"""Benchmark: network_data.json renders per second for a two-port server, ours beside Nova's.

Ours is ``guestmeta.documents.network_data`` (the dict, as Nova's function returns a dict)
and, separately, the dict encoded to the bytes the service serves. Nova's is its own
``nova.virt.netutils.get_network_metadata`` on the same server's ``network_info``, timed
inside its separate environment (``scripts/consumers.sh``); without that environment its
rate is ``null``. The last line is one JSON object.

    .venv/bin/python bench/render.py [--seconds S]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.documents.topologies import BY_NAME

from guestmeta.documents import encode, network_data
from guestmeta.model import Topology

TARGET = "at least Nova's rate"


def rate(work: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``work``, timed in batches until ``seconds`` have passed."""
    calls, started = 0, time.perf_counter()
    while True:
        for _ in range(200):
            work()
        calls += 200
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return calls / elapsed


def nova_rate(topology: Topology, server_id: str, seconds: float) -> tuple[float | None, str]:
    """Nova's rate, or None and the reason when its environment is not there."""
    try:
        from tests.consumers import nova
    except ImportError as exc:
        return None, f"tests.consumers.nova is not importable: {exc}"
    try:
        info = nova.network_info(topology, server_id)
        return nova.benchmark_network_metadata(info, seconds), ""
    except Exception as exc:  # the oracle's environment may be missing or broken
        return None, str(exc).splitlines()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()

    case = BY_NAME["two_ports"]
    topology, server_id = case.topology, case.server_id
    ours = rate(lambda: network_data(topology, server_id), args.seconds)
    ours_bytes = rate(lambda: encode(network_data(topology, server_id)), args.seconds)
    nova, why = nova_rate(topology, server_id, args.seconds)

    print(f"{'network_data.json, two ports':32}{'renders/s':>12}")
    print(f"{'guestmeta (dict)':32}{ours:>12,.0f}")
    print(f"{'guestmeta (JSON bytes)':32}{ours_bytes:>12,.0f}")
    print(f"{'nova get_network_metadata':32}{f'{nova:,.0f}' if nova else 'n/a':>12}")
    if why:
        print(f"  (nova: {why})")
    results: dict[str, Any] = {
        "ports": len(topology.index.ports(server_id)),
        "guestmeta_renders_per_s": round(ours),
        "guestmeta_bytes_per_s": round(ours_bytes),
        "nova_renders_per_s": round(nova) if nova else None,
        "target": TARGET,
    }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
