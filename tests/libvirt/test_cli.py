"""The real ``guestmeta`` command: render domain-metadata, agent --once, port attach/detach.

Bad input must give one line naming what is wrong, a non-zero exit, and no change.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from guestmeta.store import Store
from tests.libvirt.conftest import (
    HOST,
    NS,
    OTHER,
    PORT_OFF0,
    PORT_RUN0,
    PORT_RUN1,
    SCENARIO,
    SERVER_RUN,
    apply_text,
    ports_of,
    saved_file,
)
from tests.libvirtd import URI, LibvirtDaemon, define, remove

GUESTMETA = Path(sys.executable).parent / "guestmeta"
NOWHERE = "qemu+unix:///system?socket=/nonexistent/libvirt-sock"


@pytest.fixture(scope="module")
def pycache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pycache")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "guestmeta.db"
    with Store(f"sqlite:///{path}") as store:
        apply_text(store, SCENARIO)
    return path


def run(db: Path, pycache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPYCACHEPREFIX=str(pycache))
    env.pop("LIBVIRT_DEFAULT_URI", None)
    env.pop("GUESTMETA_VIF_SOURCE", None)
    return subprocess.run(
        [str(GUESTMETA), "--db", f"sqlite:///{db}", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def revision(db: Path) -> int:
    with Store(f"sqlite:///{db}") as store:
        return store.revision()


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_render_domain_metadata(db: Path, pycache: Path) -> None:
    done = run(db, pycache, "render", "domain-metadata", "gmtest-run")
    assert done.returncode == 0, done.stderr
    root = etree.fromstring(done.stdout.encode())
    assert root.tag == f"{{{NS}}}instance"
    assert root.findtext(f"{{{NS}}}name") == "run"
    assert root.findtext(f"{{{NS}}}creationTime") == "2025-01-02 03:04:05"
    assert ports_of(done.stdout) == [
        (PORT_RUN0, [("fixed", "192.168.10.11", "4"), ("fixed", "2001:db8:10::11", "6")])
    ]


def test_render_domain_metadata_of_an_unknown_server(db: Path, pycache: Path) -> None:
    done = run(db, pycache, "render", "domain-metadata", "nope")
    assert done.returncode == 1
    assert one_line(done.stderr) == "no server 'nope'"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("port", "attach", "run-eth1", "run", "--vif-source", "macvtap:x"),
            "guestmeta: bad vif source 'macvtap:x': expected user, bridge:NAME, "
            "network:NAME or ovs:NAME",
        ),
        (("port", "attach", "nope", "run", "--vif-source", "user"), "no port 'nope'"),
        (("port", "attach", "run-eth1", "nope", "--vif-source", "user"), "no server 'nope'"),
        (("port", "detach", "nope"), "no port 'nope'"),
        (("port", "detach", "run-eth1"), f"port {PORT_RUN1} is not attached to a server"),
        (
            ("port", "attach", "run-eth1", "run", "--connect", NOWHERE),
            f"guestmeta: cannot connect to libvirt at {NOWHERE}: ",
        ),
        (
            ("agent", "--once", "--connect", NOWHERE),
            f"guestmeta: cannot connect to libvirt at {NOWHERE}: ",
        ),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    db: Path, pycache: Path, args: tuple[str, ...], message: str
) -> None:
    done = run(db, pycache, *args)
    assert done.returncode == 1, done.stdout
    assert one_line(done.stderr).startswith(message)
    assert revision(db) == 1


@pytest.fixture
def run_dom(libvirtd: LibvirtDaemon, qemu: Any) -> Iterator[Any]:
    dom = define(qemu, "gmtest-run", start=True, macs=("fa:16:3e:00:01:01",), metadata=OTHER)
    off = define(qemu, "gmtest-off", macs=("fa:16:3e:00:02:01",))
    yield dom
    remove(dom)
    remove(off)


def test_agent_once_then_port_attach_and_a_detach_that_times_out(
    db: Path, pycache: Path, run_dom: Any
) -> None:
    once = run(db, pycache, "agent", "--once", "--connect", URI, "--host", HOST)
    assert once.returncode == 0, once.stderr
    assert once.stdout.startswith("checked 2 domain(s), wrote 2, failed 0")
    assert ports_of(saved_file("gmtest-off")) == [(PORT_OFF0, [("fixed", "192.168.10.21", "4")])]

    args = ("--connect", URI, "--vif-source", "user", "--format", "json")
    attached = run(db, pycache, "port", "attach", "run-eth1", "run", *args)
    assert attached.returncode == 0, attached.stderr
    assert json.loads(attached.stdout) == {
        # 1 the scenario, 2 and 3 the agent reporting where each domain's NIC sits on its bus.
        "revision": 4,
        "changes": [{"action": "update", "kind": "ports", "id": PORT_RUN1}],
        "domain": {
            "name": "gmtest-run",
            "device": ["live", "config"],
            "metadata": ["live", "config"],
            "error": None,
        },
    }
    assert [p for p, _ in ports_of(saved_file("gmtest-run"))] == [PORT_RUN0, PORT_RUN1]

    # No OS in this domain: the unplug request is never answered.
    detached = run(db, pycache, "port", "detach", "run-eth1", "--connect", URI, "--timeout", "1")
    assert detached.returncode == 1
    line = one_line(detached.stderr)
    assert line.startswith("guestmeta: timed out after 1 s waiting for the guest in gmtest-run")
    assert "store and saved definition unchanged" in line
    assert revision(db) == 4  # the attach's
    with Store(f"sqlite:///{db}") as store:
        assert store.load().ports[PORT_RUN1].device_id == SERVER_RUN
    assert [p for p, _ in ports_of(saved_file("gmtest-run"))] == [PORT_RUN0, PORT_RUN1]
