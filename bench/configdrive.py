"""Benchmark: building a config drive, ours beside Nova's method, then 1,000 servers.

Ours is :func:`guestmeta.drives.build_drive` (document tree to ISO bytes in memory).
Nova's method is what its ``ConfigDriveBuilder`` does with the same files: write the
tree to a temporary directory and run ``genisoimage`` with Nova's flags, then read the
image. Both start from the same server (the matrix's bond and VLAN server) and include
building the document tree. Then both build a drive for each of 1,000 servers, whose times
are reported beside the target's. The target: one server's drive in at most half of Nova's
method's time. The last line is one JSON object.

    .venv/bin/python bench/configdrive.py [--servers N] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.documents.topologies import BY_NAME, SERVER, SERVER_ID

from guestmeta.drives import build_drive, drive_tree
from guestmeta.model import Topology

NOVA_FLAGS = ["-ldots", "-allow-lowercase", "-allow-multidot", "-l", "-J", "-r", "-V", "config-2"]


def nova_method(topology: Topology, server_id: str) -> bytes:
    """Nova's way: the files in a directory, genisoimage over it, the image read back."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "drive"
        for path, data in drive_tree(topology, server_id).items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        out = Path(tmp) / "configdrive.iso"
        subprocess.run(
            ["genisoimage", "-o", str(out), *NOVA_FLAGS, "-quiet", str(root)],
            check=True,
            capture_output=True,
        )
        return out.read_bytes()


def ours(topology: Topology, server_id: str) -> bytes:
    return build_drive(topology, server_id)


def median_seconds(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def many(count: int) -> Topology:
    """``count`` servers with the matrix server's ports and data, each its own id."""
    base = BY_NAME["bond_vlan"].topology.copy()
    servers = {}
    for n in range(count):
        sid = f"5e7e0000-0000-4000-8000-{n:012d}"
        servers[sid] = replace(SERVER, id=sid, name=f"vm{n}", domain_name=f"instance-{n:08x}")
    base.servers = {**base.servers, **servers}
    return base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    topology = BY_NAME["bond_vlan"].topology
    ours(topology, SERVER_ID), nova_method(topology, SERVER_ID)  # warm up both
    one_ours = median_seconds(lambda: ours(topology, SERVER_ID), args.repeat)
    one_nova = median_seconds(lambda: nova_method(topology, SERVER_ID), args.repeat)
    print(f"one server:   ours {one_ours * 1000:8.2f} ms   Nova's method {one_nova * 1000:8.2f} ms")

    fleet = many(args.servers)
    ids = [sid for sid in fleet.servers if sid != SERVER_ID][: args.servers]
    started = time.perf_counter()
    for sid in ids:
        ours(fleet, sid)
    fleet_ours = time.perf_counter() - started
    started = time.perf_counter()
    for sid in ids:
        nova_method(fleet, sid)
    fleet_nova = time.perf_counter() - started
    print(f"{len(ids)} servers: ours {fleet_ours:8.2f} s    Nova's method {fleet_nova:8.2f} s")
    ratio = one_ours / one_nova
    print(f"ours / Nova's method: {ratio:.2f} (target: at most 0.50)")
    print(
        json.dumps(
            {
                "server_ms": {"ours": round(one_ours * 1000, 3), "nova": round(one_nova * 1000, 3)},
                "servers": len(ids),
                "servers_s": {"ours": round(fleet_ours, 3), "nova": round(fleet_nova, 3)},
                "ratio": round(ratio, 3),
                "servers_ratio": round(fleet_ours / fleet_nova, 3),
                "target": "ratio <= 0.5 (one server's build)",
                "met": ratio <= 0.5,
            }
        )
    )


if __name__ == "__main__":
    main()
