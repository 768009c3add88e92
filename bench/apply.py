"""Benchmark: apply 10,000 servers with 2 ports each, then look servers up by (network, IP).

Runs on SQLite and on a PostgreSQL cluster it starts in a temporary directory, and
prints each figure beside its target; the last line is one JSON object.

    .venv/bin/python bench/apply.py [--servers N] [--lookups N] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.pgcluster import PostgresCluster

from guestmeta.apply import load_document, plan_apply
from guestmeta.store import Store

TARGET_APPLY_S = 30.0
TARGET_LOOKUPS_PER_S = 20_000


def dump(servers: int, seed: int = 7) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A Neutron/Nova-shaped dump: two networks, each server one port on each."""
    rng = random.Random(seed)

    def uid() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    nets, subnets, ports, server_items = [], [], [], []
    pairs: list[tuple[str, str]] = []
    for n, cidr in enumerate(("10.0.0.0/16", "10.1.0.0/16")):
        net_id, sub_id = uid(), uid()
        nets.append({"id": net_id, "name": f"net{n}", "mtu": 1450, "status": "ACTIVE"})
        network = ipaddress.ip_network(cidr)
        subnets.append(
            {
                "id": sub_id,
                "name": f"net{n}-v4",
                "network_id": net_id,
                "ip_version": 4,
                "cidr": cidr,
                "gateway_ip": str(network[1]),
                "enable_dhcp": True,
                "dns_nameservers": ["10.0.0.2"],
                "allocation_pools": [{"start": str(network[2]), "end": str(network[-2])}],
                "host_routes": [],
            }
        )
        for s in range(servers):
            address = str(network[10 + s])
            ports.append(
                {
                    "id": uid(),
                    "name": "",
                    "network_id": net_id,
                    "mac_address": f"fa:16:3e:{n:02x}:{s >> 8 & 0xFF:02x}:{s & 0xFF:02x}",
                    "fixed_ips": [{"subnet_id": sub_id, "ip_address": address}],
                    "device_id": f"server-{s}",  # replaced below
                    "device_owner": "compute:nova",
                    "binding:vif_type": "ovs",
                    "binding:host_id": f"compute{s % 20}",
                }
            )
            pairs.append((net_id, address))
    server_ids = [uid() for _ in range(servers)]
    for i, port in enumerate(ports):
        port["device_id"] = server_ids[i % servers]
    for s, sid in enumerate(server_ids):
        server_items.append(
            {
                "id": sid,
                "name": f"vm-{s}",
                "created": "2026-01-02T03:04:05Z",
                "tenant_id": "5b4c7d1a3f2e4e0c9b8a7f6e5d4c3b2a",
                "user_id": "9f8e7d6c5b4a49382716a5b4c3d2e1f0",
                "OS-EXT-SRV-ATTR:instance_name": f"instance-{s + 1:08x}",
                "OS-EXT-SRV-ATTR:host": f"compute{s % 20}",
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
                "metadata": {"index": str(s)},
                "image": {"id": "c0ffee00-0000-4000-8000-000000000001"},
            }
        )
    body = {"networks": nets, "subnets": subnets, "ports": ports, "servers": server_items}
    return body, pairs


def run(url: str, text: str, pairs: list[tuple[str, str]], lookups: int) -> dict[str, float]:
    with Store(url) as store:
        started = time.perf_counter()
        document = load_document("bench.json", text=text)
        result = store.change(lambda current: plan_apply(current, [document]))
        apply_s = time.perf_counter() - started
        assert len(result.changes) == len(json.loads(text)["servers"]) * 3 + 4

        started = time.perf_counter()
        again = store.change(lambda current: plan_apply(current, [document]))
        reapply_s = time.perf_counter() - started
        assert not again.changes

        rng = random.Random(3)
        sample = [rng.choice(pairs) for _ in range(lookups)]
        with store.reader() as reader:
            started = time.perf_counter()
            found = sum(1 for net, ip in sample if reader.server_id_for_address(net, ip))
            lookup_s = time.perf_counter() - started
        assert found == lookups
    return {
        "apply_s": round(apply_s, 2),
        "reapply_unchanged_s": round(reapply_s, 2),
        "lookups_per_s": round(lookups / lookup_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--servers", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=50_000)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()

    body, pairs = dump(args.servers)
    text = json.dumps(body)
    results: dict[str, Any] = {"servers": args.servers, "ports": len(body["ports"])}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = run(f"sqlite:///{tmp}/bench.db", text, pairs, args.lookups)
    if not args.skip_postgres:
        cluster = PostgresCluster(fast=False, port=54339).start()
        try:
            url = cluster.create_database("bench")
            results["postgresql"] = run(url, text, pairs, args.lookups)
        finally:
            cluster.stop()
    results["target"] = {"apply_s": TARGET_APPLY_S, "sqlite_lookups_per_s": TARGET_LOOKUPS_PER_S}

    print(f"{'':12}{'apply (s)':>12}{'re-apply (s)':>14}{'lookups/s':>12}")
    for backend in ("sqlite", "postgresql"):
        if backend in results:
            r = results[backend]
            print(
                f"{backend:12}{r['apply_s']:>12}{r['reapply_unchanged_s']:>14}"
                f"{r['lookups_per_s']:>12}"
            )
    print(f"{'target':12}{'< ' + str(TARGET_APPLY_S):>12}{'':>14}{'> 20000':>12} (SQLite)")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
