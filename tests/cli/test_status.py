"""``guestmeta status`` on an SQLite store: each process's applied revision, its lag while
a change for its host waits, how long ago it reported, and stale ones marked."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import update

from guestmeta.apply import load_document, plan_apply
from guestmeta.store import Store, schema
from tests.cli.test_cli import GUESTMETA, MINIMAL


def status(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GUESTMETA), "--db", f"sqlite:///{db}", "status", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_status_shows_lag_pending_work_failures_and_stale_hosts(tmp_path: Path) -> None:
    db = tmp_path / "guestmeta.db"
    with Store(f"sqlite:///{db}") as store:
        store.change(lambda t: plan_apply(t, [load_document(str(MINIMAL))]))
        copy = store.read_host("kvm1")
        for host, role in (("kvm1", "agent"), ("kvm1", "serve"), ("kvm2", "agent")):
            watch = store.feed_watch(host, role)
            watch.applied = copy.revision
            if host == "kvm2":
                watch.failures.add("store: connection refused")
            watch.report()
            watch.close()
        moved = MINIMAL.read_text().replace("host: kvm1", "host: kvm2")
        store.change(lambda t: plan_apply(t, [load_document("minimal.yaml", moved)]))
        revision = store.revision()
        with store.engine.begin() as conn:  # kvm2's agent last reported two minutes ago
            table = schema.host_status
            conn.execute(
                update(table).where(table.c.host == "kvm2").values(seen_at=table.c.seen_at - 120)
            )

    shown = status(db, "--format", "json")
    assert shown.returncode == 0, shown.stderr
    report: dict[str, Any] = json.loads(shown.stdout)
    assert report["revision"] == revision == copy.revision + 1
    rows = {(h["host"], h["role"]): h for h in report["hosts"]}
    assert sorted(rows) == [("kvm1", "agent"), ("kvm1", "serve"), ("kvm2", "agent")]
    for key in rows:  # vm1 moved: both hosts have it pending, one revision behind
        assert (rows[key]["applied"], rows[key]["pending"], rows[key]["lag"]) == (
            copy.revision,
            1,
            1,
        )
    assert [rows[k]["stale"] for k in sorted(rows)] == [False, False, True]
    assert 119 < rows[("kvm2", "agent")]["last_seen_s"] < 180
    assert rows[("kvm1", "agent")]["last_seen_s"] < 60
    assert [f["message"] for f in rows[("kvm2", "agent")]["failures"]] == [
        "store: connection refused"
    ]

    table = status(db)
    assert table.returncode == 0, table.stderr
    assert f"store revision {revision}, 2 host(s)" in table.stdout
    kvm2 = next(line for line in table.stdout.splitlines() if "kvm2" in line)
    assert "STALE" in kvm2 and "connection refused" in kvm2
    assert all("STALE" not in line for line in table.stdout.splitlines() if "kvm1" in line)

    loose = status(db, "--stale-after", "600")
    assert "STALE" not in loose.stdout
    bad = status(db, "--stale-after", "0")
    assert bad.returncode != 0 and "--stale-after" in bad.stderr

    forgot = status(db, "--forget", "kvm2")  # a retired host's stale row goes
    assert forgot.returncode == 0, forgot.stderr
    assert "forgot 1 report row(s) of host kvm2" in forgot.stdout
    after = json.loads(status(db, "--format", "json").stdout)
    assert sorted((h["host"], h["role"]) for h in after["hosts"]) == [
        ("kvm1", "agent"),
        ("kvm1", "serve"),
    ]
    again = status(db, "--forget", "kvm2")  # a typo, or nothing left: said, non-zero
    assert again.returncode == 1
    assert again.stderr.strip() == "guestmeta: status --forget: no reports of host 'kvm2'"
