"""glean (OpenStack's small network configurator for images) reading our documents.

glean reads the config drive and writes the guest's network files for one distribution
family. It runs here in --noop mode over a fake root in a temporary directory: our
network_data.json on a fake config drive, and fake /sys/class/net entries for the guest's
NICs. It never writes to this machine.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from tests.consumers._run import ConsumerError, run_script

DISTROS = ("debian", "centos", "networkd")


def run_glean(
    network_data: dict[str, Any],
    meta_data: dict[str, Any],
    interfaces: dict[str, str],
    distro: str,
) -> dict[str, str]:
    """The files glean would write (path -> content) for a guest with these NICs.

    ``interfaces`` maps a kernel interface name (eth0) to its MAC address. ``distro`` is
    glean's --distro: debian (/etc/network/interfaces.d), centos (ifcfg files) or networkd.
    """
    if distro not in DISTROS:
        raise ValueError(f"distro must be one of {', '.join(DISTROS)}, not {distro!r}")
    with tempfile.TemporaryDirectory(prefix="glean-root-") as tmp:
        root = Path(tmp)
        drive = root / "mnt" / "config" / "openstack" / "latest"
        drive.mkdir(parents=True)
        (drive / "meta_data.json").write_text(json.dumps(meta_data))
        (drive / "network_data.json").write_text(json.dumps(network_data))
        for name, mac in interfaces.items():
            nic = root / "sys" / "class" / "net" / name
            nic.mkdir(parents=True)
            (nic / "address").write_text(mac + "\n")
            # 0: a permanent address, as a real NIC has; glean skips any other kind.
            (nic / "addr_assign_type").write_text("0\n")
            # With carrier up, glean takes the NIC at once instead of trying to raise it.
            (nic / "carrier").write_text("1\n")
        (root / "sys" / "class" / "net").mkdir(parents=True, exist_ok=True)
        files: dict[str, str] = run_script("glean_noop.py", None, str(root), distro)
    return files


def _fake_root(
    root: Path, network_data: dict[str, Any], meta_data: dict[str, Any], interfaces: dict[str, str]
) -> None:
    """Lay out a fake root exactly as :func:`run_glean` does (drive, then /sys NICs)."""
    drive = root / "mnt" / "config" / "openstack" / "latest"
    drive.mkdir(parents=True)
    (drive / "meta_data.json").write_text(json.dumps(meta_data))
    (drive / "network_data.json").write_text(json.dumps(network_data))
    for name, mac in interfaces.items():
        nic = root / "sys" / "class" / "net" / name
        nic.mkdir(parents=True)
        (nic / "address").write_text(mac + "\n")
        (nic / "addr_assign_type").write_text("0\n")
        (nic / "carrier").write_text("1\n")
    (root / "sys" / "class" / "net").mkdir(parents=True, exist_ok=True)


def run_glean_many(
    jobs: list[tuple[dict[str, Any], dict[str, Any], dict[str, str], str]],
) -> list[dict[str, str] | ConsumerError]:
    """:func:`run_glean` for many (network_data, meta_data, interfaces, distro) jobs.

    One glean interpreter serves every job (each over its own fake root, prepared as
    :func:`run_glean` prepares it). Each result is the files glean would write, or the
    :class:`ConsumerError` carrying the traceback of the job glean failed on.
    """
    for *_, distro in jobs:
        if distro not in DISTROS:
            raise ValueError(f"distro must be one of {', '.join(DISTROS)}, not {distro!r}")
    with tempfile.TemporaryDirectory(prefix="glean-roots-") as tmp:
        payload = []
        for i, (network_data, meta_data, interfaces, distro) in enumerate(jobs):
            root = Path(tmp) / str(i)
            _fake_root(root, network_data, meta_data, interfaces)
            payload.append({"root": str(root), "distro": distro})
        answers = run_script("glean_noop_many.py", payload)
    return [
        ConsumerError("glean_noop_many.py", 1, a["error"]) if "error" in a else a["files"]
        for a in answers
    ]
