"""``guestmeta apply`` fed what an adversary would feed it, as the real command: stdin that is
closed, not UTF-8 or endless, FIFOs and devices, parser bombs, forged and endless error
output. Each run exits 1 with its exact stderr lines, never a traceback or a hang, and the
store is as it was.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from guestmeta.store import Store
from tests.cli.test_apply_errors import GUESTMETA, make_base

TIMEOUT = 120  # seconds: a hang fails the test instead of the suite


def run(db: Path, *args: str, stdin: int | bytes | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GUESTMETA_DB", "LIBVIRT_DEFAULT_URI")}
    input_bytes = stdin if isinstance(stdin, bytes) else None
    handle = stdin if isinstance(stdin, int) else (None if input_bytes else subprocess.DEVNULL)
    done = subprocess.run(
        [str(GUESTMETA), "--db", f"sqlite:///{db}", *args],
        input=input_bytes,
        stdin=handle,
        capture_output=True,
        timeout=TIMEOUT,
        env=env,
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    make_base(path)
    return path


def unchanged(db: Path) -> str:
    listed = run(db, "revision")
    assert listed.returncode == 0, listed.stderr
    return listed.stdout


def test_stdin_not_utf8(db: Path) -> None:
    done = run(db, "apply", "-", stdin=b'networks: [{name: "\xff"}]\n')
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == ["<stdin>: not UTF-8 text (invalid start byte at byte 19)"]
    assert unchanged(db) == "1\n"


def test_stdin_closed(db: Path) -> None:
    done = subprocess.run(
        f"{GUESTMETA} --db sqlite:///{db} apply - <&-",
        shell=True,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == ["<stdin>: standard input is closed"]
    assert unchanged(db) == "1\n"


def test_stdin_endless(db: Path) -> None:
    with open("/dev/zero", "rb") as zero:
        done = run(db, "apply", "-", stdin=zero.fileno())
    assert done.returncode == 1
    assert done.stderr.splitlines() == ["<stdin>: larger than 64 MiB"]


def test_fifo_and_device_are_refused_without_waiting(db: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    done = run(db, "apply", str(fifo), "/dev/zero")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"{fifo}: not a regular file (a FIFO)",
        "/dev/zero: not a regular file (a device)",
    ]
    assert unchanged(db) == "1\n"


def test_alias_bomb_is_refused_quickly(db: Path, tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    text = "servers:\n  - name: s\n    flavor:\n      vcpus: 1\n      ram: 1\n      extra_specs:\n"
    text += "".join(f"        {line}\n" for line in lines)
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(text)
    done = run(db, "apply", str(bomb))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"{bomb}: expands to more than {4 * len(text) + 65536} nodes and characters "
        "(YAML aliases repeat what they name)"
    ]


def test_many_problems_are_capped(db: Path, tmp_path: Path) -> None:
    """Five thousand bad items give a thousand lines and a count, not five thousand lines."""
    many = tmp_path / "many.yaml"
    many.write_text("networks:\n" + "".join(f"  - {{name: n{i}, mtu: 1}}\n" for i in range(5000)))
    done = run(db, "apply", str(many))
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1001
    assert lines[0] == f"{many}: networks[0] (n0): mtu: 1 is outside 68-65535"
    assert lines[-1] == "... and 4000 more problems"


def test_deep_json_on_stdin(db: Path) -> None:
    done = run(db, "apply", "-", stdin=b"[" * 100_000 + b"]" * 100_000)
    assert done.returncode == 1
    assert done.stderr.splitlines() == ["<stdin>: nested deeper than 64 levels"]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("dry_run", [False, True])
def test_field_limits_are_one_line_on_both_backends(
    store: Store, tmp_path: Path, dry_run: bool
) -> None:
    """What once passed ``--dry-run`` and SQLite and failed PostgreSQL with a traceback."""
    long_host = "h" * 256
    bad = tmp_path / "long.yaml"
    bad.write_text(f'servers:\n  - {{name: s, "OS-EXT-SRV-ATTR:host": {long_host}}}\n')
    env = {k: v for k, v in os.environ.items() if k != "GUESTMETA_DB"}
    done = subprocess.run(
        [str(GUESTMETA), "--db", store.url, "apply", str(bad)] + (["--dry-run"] if dry_run else []),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [
        f"{bad}: servers[0] (s): OS-EXT-SRV-ATTR:host: '{'h' * 39}... (256 characters) "
        "is over 255 characters"
    ]
    assert store.revision() == 0 and not store.load().servers
