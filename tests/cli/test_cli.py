"""The real ``guestmeta`` command on an SQLite store: apply, list, show, port, delete, revision.

Starting the command costs seconds when Python may not cache bytecode
(PYTHONDONTWRITEBYTECODE), so the commands get a bytecode cache in a temporary directory
(PYTHONPYCACHEPREFIX, nothing is written into the tree), stores are prepared with the
library (a copy of one prepared file per test) and independent commands run side by side.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from guestmeta.apply import load_document, plan_apply
from guestmeta.model import Topology
from guestmeta.store import Store
from tests.conftest import DATA

GUESTMETA = Path(sys.executable).parent / "guestmeta"
MINIMAL = DATA / "minimal.yaml"
T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
PUBLIC = """
networks:
  - name: public
    router:external: true
subnets:
  - name: public-v4
    network_id: public
    cidr: 203.0.113.0/24
    gateway_ip: 203.0.113.1
floatingips:
  - floating_ip_address: 203.0.113.50
    floating_network_id: public
    port_id: vm1-eth0
"""


def command(db: Path, *args: str) -> list[str]:
    return [str(GUESTMETA), "--db", f"sqlite:///{db}", *args]


_pycache: list[Path] = []


@pytest.fixture(scope="module", autouse=True)
def bytecode_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    _pycache[:] = [tmp_path_factory.mktemp("pycache")]
    # One command that imports what the others will (store, migrations, tables) fills it.
    warm = run(tmp_path_factory.mktemp("warm") / "warm.db", "list", "servers")
    assert warm.returncode == 0, warm.stderr


def environment() -> dict[str, str]:
    drop = ("GUESTMETA_DB", "LIBVIRT_DEFAULT_URI", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    if _pycache:
        env["PYTHONPYCACHEPREFIX"] = str(_pycache[0])
    return env


def run(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(db, *args),
        cwd=db.parent,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_all(db: Path, *commands: tuple[str, ...]) -> list[subprocess.CompletedProcess[str]]:
    """Independent read-only commands, side by side."""
    procs = [
        subprocess.Popen(
            command(db, *args),
            cwd=db.parent,
            env=environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in commands
    ]
    done = []
    for args, proc in zip(commands, procs, strict=True):
        out, err = proc.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(list(args), proc.returncode, out, err))
    return done


def eui64_by_hand(prefix64: str, mac: str) -> str:
    """RFC 4291 appendix A written out: flip the universal/local bit, ff:fe in the middle."""
    o = [int(part, 16) for part in mac.split(":")]
    o[0] ^= 0x02
    iid = f"{o[0]:02x}{o[1]:02x}:{o[2]:02x}ff:fe{o[3]:02x}:{o[4]:02x}{o[5]:02x}"
    return str(ipaddress.IPv6Address(f"{prefix64}:{iid}"))


def load(db: Path) -> Topology:
    with Store(f"sqlite:///{db}") as store:
        return store.load()


def revision(db: Path) -> int:
    with Store(f"sqlite:///{db}") as store:
        return store.revision()


def named(items: dict[str, Any], name: str) -> Any:
    found = [item for item in items.values() if item.name == name]
    assert len(found) == 1
    return found[0]


@dataclass
class Prepared:
    path: Path
    topology: Topology


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    """minimal.yaml plus an external network and a floating IP on vm1-eth0."""
    path = tmp_path_factory.mktemp("prepared") / "guestmeta.db"
    docs = [load_document(str(MINIMAL)), load_document("public.yaml", PUBLIC)]
    with Store(f"sqlite:///{path}") as store:
        store.change(lambda current: plan_apply(current, docs, now=T0))
        return Prepared(path, store.load())


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    """minimal.yaml alone."""
    path = tmp_path_factory.mktemp("plain") / "guestmeta.db"
    docs = [load_document(str(MINIMAL))]
    with Store(f"sqlite:///{path}") as store:
        store.change(lambda current: plan_apply(current, docs, now=T0))
        return Prepared(path, store.load())


def copy_of(prepared: Prepared, where: Path) -> Path:
    copy = where / "guestmeta.db"
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{prepared.path}{suffix}")
        if source.exists():
            shutil.copy(source, f"{copy}{suffix}")
    return copy


@pytest.fixture
def db(prepared: Prepared, tmp_path: Path) -> Path:
    return copy_of(prepared, tmp_path)


def test_apply_stores_the_file_and_a_second_apply_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    first = run(db, "apply", str(MINIMAL))
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert sorted(line.split()[1] for line in lines[:-1]) == [
        "network",
        "port",
        "server",
        "subnet",
        "subnet",
    ]
    assert all(line.startswith("create ") for line in lines[:-1])
    assert lines[-1] == "applied: 5 change(s), store revision 1"

    second = run(db, "apply", "--format", "json", str(MINIMAL))
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) == {"changes": [], "revision": 1}
    assert revision(db) == 1
    assert named(load(db).servers, "vm1").host == "kvm1"


def test_dry_run_stores_nothing(tmp_path: Path) -> None:
    db = tmp_path / "dry.db"
    result = run(db, "apply", "--dry-run", str(MINIMAL))
    assert result.returncode == 0, result.stderr
    assert "create server" in result.stdout
    assert result.stdout.splitlines()[-1] == "dry run: 5 change(s), store revision 0"
    assert revision(db) == 0
    assert load(db) == Topology()


def test_lists_print_stable_sorted_json(db: Path, prepared: Prepared) -> None:
    kinds = ("servers", "ports", "networks", "subnets", "floatingips")
    # Each kind once; the kinds with several rows (where order could wander) twice.
    again = ("networks", "subnets")
    runs = run_all(
        db,
        *[("list", kind, "--format", "json") for kind in (*kinds, *again)],
        ("list", "servers"),
    )
    for result in runs:
        assert result.returncode == 0, (result.args, result.stderr)
    listed: dict[str, Any] = {}
    for kind, result in zip(kinds, runs, strict=False):
        data = json.loads(result.stdout)
        assert result.stdout == json.dumps(data, indent=2, sort_keys=True) + "\n", kind
        listed[kind] = data
    for kind, result in zip(again, runs[5:7], strict=True):
        assert result.stdout == runs[kinds.index(kind)].stdout, kind

    t = prepared.topology
    server = named(t.servers, "vm1")
    port = named(t.ports, "vm1-eth0")
    lan, public = named(t.networks, "lan"), named(t.networks, "public")
    lan_v4, lan_v6 = named(t.subnets, "lan-v4"), named(t.subnets, "lan-v6")
    public_v4 = named(t.subnets, "public-v4")
    fip = next(iter(t.floatingips.values()))
    slaac = eui64_by_hand("2001:db8:10:0", port.mac_address)

    def pick(row: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
        return {key: row.get(key) for key in expected}

    [srow] = listed["servers"]
    expected_server = {
        "id": server.id,
        "name": "vm1",
        "domain_name": "vm1",
        "hostname": "vm1",
        "host": "kvm1",
        "flavor": "m1.small",
        "created": "2025-01-02T03:04:05Z",
        "addresses": ["192.168.10.2", slaac],
        "floating_ips": ["203.0.113.50"],
    }
    assert pick(srow, expected_server) == expected_server

    [prow] = listed["ports"]
    expected_port = {
        "id": port.id,
        "name": "vm1-eth0",
        "network_id": lan.id,
        "mac_address": port.mac_address,
        "fixed_ips": ["192.168.10.2", slaac],
        "device_id": server.id,
        "device_owner": "compute:nova",
    }
    assert pick(prow, expected_port) == expected_port
    assert port.mac_address.startswith("fa:16:3e:")

    assert [(n["name"], n["id"], n["mtu"], n["external"]) for n in listed["networks"]] == [
        ("lan", lan.id, 1500, False),
        ("public", public.id, None, True),
    ]
    assert listed["networks"][0]["subnets"] == [lan_v4.id, lan_v6.id]

    assert [
        (s["name"], s["id"], s["network_id"], s["cidr"], s["gateway_ip"]) for s in listed["subnets"]
    ] == [
        ("lan-v4", lan_v4.id, lan.id, "192.168.10.0/24", "192.168.10.1"),
        ("lan-v6", lan_v6.id, lan.id, "2001:db8:10::/64", "2001:db8:10::1"),
        ("public-v4", public_v4.id, public.id, "203.0.113.0/24", "203.0.113.1"),
    ]
    assert listed["subnets"][1]["ipv6_address_mode"] == "slaac"

    [frow] = listed["floatingips"]
    expected_fip = {
        "id": fip.id,
        "floating_ip_address": "203.0.113.50",
        "port_id": port.id,
        "fixed_ip_address": "192.168.10.2",  # the port's IPv4 address, found for us
        "server_id": server.id,
    }
    assert pick(frow, expected_fip) == expected_fip

    table = runs[7].stdout
    assert "vm1" in table and "kvm1" in table and "192.168.10.2" in table


def test_show_a_server_as_json_and_the_revision(db: Path, prepared: Prepared) -> None:
    shown, missing, rev = run_all(
        db, ("show", "vm1", "--format", "json"), ("show", "nope"), ("revision",)
    )
    assert (rev.returncode, rev.stdout) == (0, "1\n")
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    server = named(prepared.topology.servers, "vm1")
    port = named(prepared.topology.ports, "vm1-eth0")
    assert (detail["id"], detail["name"], detail["host"]) == (server.id, "vm1", "kvm1")
    flavor = detail["flavor"]
    assert (flavor["name"], flavor["vcpus"], flavor["ram"], flavor["disk"]) == (
        "m1.small",
        1,
        2048,
        20,
    )
    assert detail["metadata"] == {"role": "test"}
    [pdetail] = detail["ports"]
    assert (pdetail["id"], pdetail["name"]) == (port.id, "vm1-eth0")
    assert pdetail["fixed_ips"][0] == "192.168.10.2"
    assert pdetail["floating_ips"] == [
        {"fixed_ip_address": "192.168.10.2", "floating_ip_address": "203.0.113.50"}
    ]
    assert missing.returncode == 1
    assert missing.stdout == ""
    assert "nope" in missing.stderr


def test_port_detach_and_attach_change_the_device(db: Path, prepared: Prepared) -> None:
    server = named(prepared.topology.servers, "vm1")
    detached = run(db, "port", "detach", "vm1-eth0")
    assert detached.returncode == 0, detached.stderr
    topology = load(db)
    port = named(topology.ports, "vm1-eth0")
    assert port.device_id == ""
    assert topology.index.ports(server.id) == ()
    assert revision(db) == 2

    attached = run(db, "port", "attach", "vm1-eth0", "vm1", "--format", "json")
    assert attached.returncode == 0, attached.stderr
    assert json.loads(attached.stdout) == {
        "changes": [{"action": "update", "id": port.id, "kind": "ports"}],
        "revision": 3,
    }
    port = named(load(db).ports, "vm1-eth0")
    assert port.device_id == server.id
    # Addresses and MAC stay with the port through detach and attach.
    assert port.fixed_ips == named(prepared.topology.ports, "vm1-eth0").fixed_ips


def test_delete_refuses_a_network_in_use_and_deletes_a_port(
    plain: Prepared, tmp_path: Path
) -> None:
    db = copy_of(plain, tmp_path)
    lan = named(plain.topology.networks, "lan")
    port = named(plain.topology.ports, "vm1-eth0")
    refused = run(db, "delete", "network", "lan")
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert "cannot delete network" in refused.stderr
    assert lan.id in refused.stderr or "lan" in refused.stderr
    # The message says what still uses it: the port (and the subnets).
    assert any(
        (port.id in line or "vm1-eth0" in line) and "still uses it" in line
        for line in refused.stderr.splitlines()
    ), refused.stderr
    assert revision(db) == 1
    assert load(db) == plain.topology

    deleted = run(db, "delete", "port", "vm1-eth0")
    assert deleted.returncode == 0, deleted.stderr
    after = load(db)
    assert after.ports == {}
    assert after.servers == plain.topology.servers
    assert after.networks == plain.topology.networks
    assert revision(db) == 2


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (("list", "bogus"), ("guestmeta list", "'kind'", "'bogus'")),
        (("ips", "--target-port", "0"), ("guestmeta ips", "'--target-port'")),
        (("ips", "--nope"), ("guestmeta ips", "--nope")),
        (("nosuchcommand",), ("guestmeta", "'nosuchcommand'")),
        (("agent", "--unplug-timeout", "-1"), ("guestmeta agent", "'--unplug-timeout'")),
    ],
)
def test_usage_errors_are_one_line_naming_the_command_and_the_argument(
    plain: Prepared, tmp_path: Path, args: tuple[str, ...], names: tuple[str, ...]
) -> None:
    result = run(copy_of(plain, tmp_path), *args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(names[0] + ":")
    for name in names[1:]:
        assert name in lines[0]
