"""The end-to-end cloud: ``cloud.yaml``'s networks, plus the four guests' ports and servers.

Every guest is the same shape, so its ports and server are made here from its number: a
port on ``lan`` with two fixed IPv4 addresses and a static IPv6 one, a VLAN sub-port on
``vlan30`` through a trunk, the e2e key, and user data that writes a file and prints the
guest's own view of itself to the serial console, one ``GMR`` line each, for the test to
read. The MACs are fixed, so a guest's NIC is told apart in its console and XML.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
NETWORKS = HERE / "cloud.yaml"
HOST = "e2e-host"  # the agent's host: its servers get their drive from the agent
BARE = "e2e-bare"  # a host no agent serves: its guests get a hand-made drive, or none
KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGd1ZXN0bWV0YS1lMmUta2V5LWZvci10ZXN0cy1vbmx5 e2e@guestmeta"
)
REPORT = "GMR"
# What the guest prints: one prefixed line per fact, so kernel output cannot be mistaken
# for it. ``ip -o`` gives one line per address or route.
_REPORT_SCRIPT = (
    f"{{ echo {REPORT} begin; "
    f"echo {REPORT} hostname $(hostname); "
    f"ip -o addr | sed 's/^/{REPORT} addr /'; "
    f"ip -o -d link | sed 's/^/{REPORT} link /'; "
    f"ip route | sed 's/^/{REPORT} route4 /'; "
    f"ip -6 route | sed 's/^/{REPORT} route6 /'; "
    f"sed 's/^/{REPORT} resolv /' /etc/resolv.conf; "
    f"sed 's/^/{REPORT} key /' /home/debian/.ssh/authorized_keys; "
    f"sed 's/^/{REPORT} file /' /etc/guestmeta-e2e; "
    f"echo {REPORT} end; }} > /dev/ttyS0 2>&1"
)


def user_data(name: str, extra_runcmd: tuple[str, ...] = ()) -> str:
    config: dict[str, Any] = {
        "write_files": [{"path": "/etc/guestmeta-e2e", "content": f"user data ran on {name}\n"}],
        "runcmd": [*(["sh", "-c", cmd] for cmd in extra_runcmd), ["sh", "-c", _REPORT_SCRIPT]],
    }
    return "#cloud-config\n" + json.dumps(config, indent=1) + "\n"


def mac(number: int, nic: int) -> str:
    return f"fa:16:3e:e2:{number:02x}:{nic:02x}"


def domain(name: str) -> str:
    """The libvirt domain of server ``name``: the tests' prefix, so a crash leaves no stray."""
    return f"gmtest-{name}"


def guest(
    number: int, name: str, host: str = HOST, extra_runcmd: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Ports and server of guest ``number`` (1-9), in guestmeta's apply format."""
    eth0, vlan = f"{name}-eth0", f"{name}-vlan30"
    ports = [
        {
            "name": eth0,
            "network_id": "lan",
            "device_id": name,
            "mac_address": mac(number, 1),
            "fixed_ips": [
                {"subnet_id": "lan-v4", "ip_address": f"192.168.50.{10 * number}"},
                {"subnet_id": "lan-v4", "ip_address": f"192.168.50.{10 * number + 1}"},
                {"subnet_id": "lan-v6", "ip_address": f"2001:db8:50::{number:x}0"},
            ],
            "trunk_details": {
                "trunk_id": f"{name}-trunk",
                "sub_ports": [
                    {"port_id": vlan, "segmentation_id": 30, "segmentation_type": "vlan"}
                ],
            },
        },
        {
            "name": vlan,
            "network_id": "vlan30",
            "device_owner": "trunk:subport",
            "mac_address": mac(number, 2),
            "fixed_ips": [{"subnet_id": "vlan30-v4", "ip_address": f"10.30.0.{number}"}],
        },
    ]
    server = {
        "name": name,
        "OS-EXT-SRV-ATTR:instance_name": domain(name),
        "OS-EXT-SRV-ATTR:host": host,
        "key_name": "e2e",
        "flavor": {"original_name": "e2e.tiny", "vcpus": 1, "ram": 512, "disk": 2},
        "user_data": user_data(name, extra_runcmd),
    }
    return {"ports": ports, "servers": [server]}


def spare_port(name: str, number: int) -> dict[str, Any]:
    """A port attached to nothing, for the hot-plug scenario."""
    return {
        "name": name,
        "network_id": "spare",
        "mac_address": mac(number, 3),
        "fixed_ips": [{"subnet_id": "spare-v4", "ip_address": f"172.16.77.{number}"}],
    }


def write(path: Path, guests: list[dict[str, Any]], extra_ports: list[dict[str, Any]]) -> Path:
    """One apply file with every guest's ports and servers (networks come from cloud.yaml)."""
    doc = {
        "ports": [p for g in guests for p in g["ports"]] + extra_ports,
        "servers": [s for g in guests for s in g["servers"]],
    }
    path.write_text(json.dumps(doc, indent=1))
    return path
