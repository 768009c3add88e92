"""Benchmark: how long a real guest takes to come up from a guestmeta config drive, alone
and three at once (as tests/e2e boots them), against the e2e suite's 10-minute budget.

Each guest is the demo image (guestmeta.demo.image, built first if not cached) booted
under QEMU from a config-2 drive of examples/homelab.yaml's ``web``, with the server's
port as a user-network NIC. Measured per guest: seconds from ``virDomainCreate`` until
its guest agent answers, and until ``cloud-init status --wait`` returns (everything
applied). The baseline is one guest alone; "three at once" shows what the e2e fixture
gains over booting them one after another (3 x alone). Needs root; starts libvirtd
unless one answers, and stops it after.

    .venv/bin/python bench/boot.py [--together N]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.libvirtd import LibvirtDaemon

from guestmeta.demo import image as guest_image
from guestmeta.demo.guest import domain_xml, remove_domain, wait_agent, wait_cloud_init
from guestmeta.demo.run import nics_of
from guestmeta.demo.system import Host
from guestmeta.libvirt.connection import open_connection
from guestmeta.store import Store

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "homelab.yaml"
BUDGET_S = 600.0  # the whole e2e suite


def boot(conn: Any, xml: str, out: dict[str, float]) -> None:
    dom = conn.defineXML(xml)
    try:
        started = time.monotonic()
        dom.create()
        out["agent_s"] = wait_agent(dom, 900)
        wait_cloud_init(dom, 900)
        out["done_s"] = time.monotonic() - started
    finally:
        remove_domain(dom)


def run(conn: Any, xml_for: Any, n: int) -> list[dict[str, float]]:
    results: list[dict[str, float]] = [{} for _ in range(n)]
    threads = [threading.Thread(target=boot, args=(conn, xml_for(i), results[i])) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--together", type=int, default=3, help="guests booted at once")
    args = parser.parse_args()
    daemon = LibvirtDaemon().start()
    try:
        measure(args.together)
    finally:
        daemon.stop()


def measure(together_n: int) -> None:
    started = time.monotonic()
    image = guest_image.build(log=print)
    build_s = time.monotonic() - started
    with tempfile.TemporaryDirectory(prefix="gm-bench-boot-") as tmp:
        work = Path(tmp)
        db = f"sqlite:///{work / 'store.db'}"
        host = Host(work, db, "kvm1")
        host.command("apply", str(EXAMPLE))
        drive = work / "web.iso"
        host.command("configdrive", "web", "--output", str(drive))
        store = Store(db)
        topology = store.load()
        store.close()
        web = next(s for s in topology.servers.values() if s.name == "web")
        nics = nics_of(topology, web)
        conn = open_connection("qemu:///system")

        def xml_for(i: int) -> str:
            disk = guest_image.overlay(image, work / f"disk{i}.qcow2")
            name = f"gmbench-boot-{i}"
            uuid = f"{web.id[:-2]}{i:02d}"
            return domain_xml(name, uuid, image, disk, work / f"{name}.log", nics, cdrom=drive)

        try:
            alone = run(conn, xml_for, 1)[0]
            together = run(conn, xml_for, together_n)
        finally:
            conn.close()
    slowest = max(r["done_s"] for r in together)
    print(f"image: {build_s:.1f} s to build or find")
    print(f"{'':28} {'agent answers':>14} {'cloud-init done':>16}")
    print(f"{'one guest alone (baseline)':28} {alone['agent_s']:>13.1f}s {alone['done_s']:>15.1f}s")
    for i, r in enumerate(together):
        label = f"{together_n} at once: guest {i + 1}"
        print(f"{label:28} {r['agent_s']:>13.1f}s {r['done_s']:>15.1f}s")
    print(
        f"{together_n} at once: all done in {slowest:.1f} s, against {together_n} x alone = "
        f"{together_n * alone['done_s']:.1f} s one after another "
        f"({slowest / (together_n * alone['done_s']):.2f} of it); e2e budget {BUDGET_S:.0f} s"
    )
    print(
        json.dumps(
            {
                "image_s": round(build_s, 1),
                "alone_agent_s": round(alone["agent_s"], 1),
                "alone_done_s": round(alone["done_s"], 1),
                "together": together_n,
                "together_done_s": round(slowest, 1),
                "sequential_estimate_s": round(together_n * alone["done_s"], 1),
                "budget_s": BUDGET_S,
            }
        )
    )


if __name__ == "__main__":
    main()
