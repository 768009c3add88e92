"""Nova's own network_data.json for a network_info (JSON list of VIFs on stdin).

Usage: nova_network_metadata.py            prints get_network_metadata(...) as JSON
       nova_network_metadata.py SECONDS    prints {"calls_per_second": N}

The benchmark hydrates the network_info once, outside the timed loop, as Nova does when it
reads the instance's info cache, and then calls get_network_metadata for SECONDS.
"""

from __future__ import annotations

import json
import sys
import time

from nova.network import model
from nova.virt import netutils


def benchmark(info: model.NetworkInfo, seconds: float) -> float:
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        netutils.get_network_metadata(info)
        calls += 1
        now = time.perf_counter()
        if now >= deadline:
            return calls / (now - start)


def main() -> None:
    info = model.NetworkInfo.hydrate(json.load(sys.stdin))
    if len(sys.argv) > 1:
        json.dump({"calls_per_second": benchmark(info, float(sys.argv[1]))}, sys.stdout)
    else:
        json.dump(netutils.get_network_metadata(info), sys.stdout)


if __name__ == "__main__":
    main()
