"""``guestmeta apply`` with bad files, run as the real command: exit 1, one stderr line per
problem, nothing on stdout, and the store exactly as it was.

Each case starts from a fresh SQLite store holding ``tests/data/rejects/base.yaml``. The
command takes a few seconds to start, so the cases are few and the listing of the base is
taken once (the base has fixed ids and times, so every fresh copy lists the same).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from guestmeta.apply import load_document, plan_apply
from guestmeta.model import Topology
from guestmeta.store import Store
from tests.conftest import DATA

GUESTMETA = Path(sys.executable).parent / "guestmeta"
BASE = DATA / "rejects" / "base.yaml"


def guestmeta(
    db: Path, *args: str, cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GUESTMETA_DB", "LIBVIRT_DEFAULT_URI")}
    return subprocess.run(
        [str(GUESTMETA), "--db", f"sqlite:///{db}", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def make_base(db: Path) -> tuple[int, Topology]:
    with Store(f"sqlite:///{db}") as store:
        doc = load_document("base.yaml", text=BASE.read_text())
        store.change(lambda current: plan_apply(current, [doc]))
        return store.revision(), store.load()


@pytest.fixture(scope="module")
def base_listing(tmp_path_factory: pytest.TempPathFactory) -> str:
    """``list servers --format json`` of a store holding the base."""
    where = tmp_path_factory.mktemp("base")
    make_base(where / "x.db")
    listed = guestmeta(where / "x.db", "list", "servers", "--format", "json", cwd=where)
    assert listed.returncode == 0, listed.stderr
    assert '"srv-web"' in listed.stdout and '"srv-db"' in listed.stdout
    return listed.stdout


@dataclass(frozen=True)
class Case:
    files: dict[str, str | bytes]  # written into the working directory before the run
    args: tuple[str, ...]  # the FILE arguments; {dir} is the working directory
    stderr: tuple[str, ...]
    stdin: str | None = None


# A valid new server rides along in most files, so an unchanged listing means something.
NEW_SERVER = "servers:\n  - {name: extra, key_name: ops}\n"

CASES = {
    "several-problems-in-one-file": Case(
        {
            "bad.yaml": (
                "ports:\n"
                '  - {name: p1, network_id: lan, mac_address: "01:00:5e:00:00:01"}\n'
                "  - {name: p2, network_id: nosuch}\n"
                "servers:\n"
                "  - {name: extra, key_name: ops}\n"
                "  - {name: other, key_name: nosuch}\n"
            )
        },
        ("bad.yaml",),
        (
            "bad.yaml: ports[0] (p1): mac_address: '01:00:5e:00:00:01' is a multicast MAC address",
            "bad.yaml: ports[1] (p2): network_id: unknown network 'nosuch'",
            "bad.yaml: servers[1] (other): key_name: unknown keypair 'nosuch'",
        ),
    ),
    "one-bad-file-between-two-good-ones": Case(
        {
            "good1.yaml": NEW_SERVER,
            "bad.yaml": (
                "ports:\n"
                "  - name: p1\n"
                "    network_id: lan\n"
                "    fixed_ips: [{subnet_id: lan-v4, ip_address: 192.168.50.10}]\n"
            ),
            "good2.yaml": "ports:\n  - {name: extra-eth0, network_id: lan, device_id: extra}\n",
        },
        ("good1.yaml", "{dir}/bad.yaml", "good2.yaml"),
        (
            "{dir}/bad.yaml: ports[0] (p1): fixed_ips[0].ip_address: 192.168.50.10 is already "
            "used by port port-web in subnet sub-lan-v4",
        ),
    ),
    "malformed-yaml": Case(
        {"bad.yaml": NEW_SERVER + "networks:\n  - name: n1: x\n"},
        ("bad.yaml",),
        (
            "bad.yaml: not valid YAML: mapping values are not allowed in this context at line 4 "
            "column 13",
        ),
    ),
    "stdin": Case(
        {},
        ("-",),
        ("<stdin>: servers[1] (s2): OS-EXT-SRV-ATTR:user_data: is not valid base64",),
        stdin=NEW_SERVER + '  - {name: s2, "OS-EXT-SRV-ATTR:user_data": "not base64!"}\n',
    ),
    "unreadable-files-all-reported": Case(
        {"good.yaml": NEW_SERVER, "binary.yaml": b"\xff\xfenetworks: []\n"},
        ("good.yaml", "binary.yaml", "missing.yaml"),
        (
            "binary.yaml: not UTF-8 text (invalid start byte at byte 0)",
            "missing.yaml: no such file",
        ),
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_apply_refuses_and_stores_nothing(tmp_path: Path, base_listing: str, case: Case) -> None:
    db = tmp_path / "x.db"
    revision, before = make_base(db)
    for name, content in case.files.items():
        data = content if isinstance(content, bytes) else content.encode()
        (tmp_path / name).write_bytes(data)
    args = [a.format(dir=tmp_path) for a in case.args]

    done = guestmeta(db, "apply", *args, cwd=tmp_path, stdin=case.stdin)

    assert done.returncode == 1
    assert done.stderr.splitlines() == [line.format(dir=tmp_path) for line in case.stderr]
    assert done.stdout == ""
    listed = guestmeta(db, "list", "servers", "--format", "json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == base_listing
    with Store(f"sqlite:///{db}") as store:
        assert store.revision() == revision
        assert store.load() == before
