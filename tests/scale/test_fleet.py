"""A fleet of simulated hosts on one PostgreSQL store converges after the store restarts
and after every backend is killed, while changes keep coming, and no host's service ever
answers for another host's server.

The scale is ``GUESTMETA_FLEET_HOSTS`` hosts of ``GUESTMETA_FLEET_SERVERS`` servers each
(see DEFAULT_HOSTS below for why the default is what it is); each host runs the shipped
``guestmeta agent`` and ``guestmeta serve`` (see tests/scale/fleet.py).
"""

from __future__ import annotations

import collections
import os
import random
import threading
import time
from pathlib import Path

import pytest

from guestmeta.store import StoreError
from tests.scale.fleet import Fleet

# 50 hosts x 400 servers (20,000), the size the simulation is meant to check, runs about
# 3 minutes on a 2-core machine, most of it starting 100 processes (about 4 s of CPU per
# host: the agent's first pass and NIC check, the service's first snapshot). The
# variables ask for another size.
DEFAULT_HOSTS = 50
DEFAULT_SERVERS = 400
HOSTS = int(os.environ.get("GUESTMETA_FLEET_HOSTS", DEFAULT_HOSTS))
SERVERS = int(os.environ.get("GUESTMETA_FLEET_SERVERS", DEFAULT_SERVERS))
CONVERGE_S = 120.0  # after the last change, every host agrees with the store within this
FAULT_WAIT_S = 60.0  # a write goes through again within this after a fault

pytestmark = pytest.mark.scale


class Changer(threading.Thread):
    """One writer: gen bumps of random servers, and one change in four a move to another
    host."""

    def __init__(self, fleet: Fleet, seed: int = 1) -> None:
        super().__init__(name="fleet-changer", daemon=True)
        self.fleet = fleet
        self.rng = random.Random(seed)
        self.ids = sorted(fleet.servers)
        self.stop = threading.Event()
        self.stored: list[float] = []  # time.monotonic() of each change known stored
        self.moves = 0
        self.failed: list[str] = []  # StoreErrors while the store was down
        self.crash: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    if self.rng.random() < 0.25:
                        sid = self.rng.choice(self.fleet.movable)
                        self.fleet.move(sid, self.fleet.move_target(sid))
                        self.moves += 1
                    else:
                        self.fleet.change_servers([self.rng.choice(self.ids)])
                    self.stored.append(time.monotonic())
                except StoreError as exc:
                    self.failed.append(str(exc))
                    self.stop.wait(0.2)
                self.stop.wait(0.05)
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.crash = exc

    def stored_since(self, moment: float) -> int:
        return sum(1 for t in self.stored if t > moment)


class Prober(threading.Thread):
    """Asks random hosts about servers that live elsewhere and never move: never a 200."""

    def __init__(self, fleet: Fleet, seed: int = 2) -> None:
        super().__init__(name="fleet-prober", daemon=True)
        self.fleet = fleet
        self.rng = random.Random(seed)
        self.fixed = sorted(set(fleet.servers) - set(fleet.movable))
        self.stop = threading.Event()
        self.statuses: collections.Counter[int] = collections.Counter()
        self.served: list[str] = []  # (host, server) pairs that got a 200
        self.errors: list[str] = []
        self.crash: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                sid = self.rng.choice(self.fixed)
                owner = self.fleet.servers[sid].host
                host = self.rng.choice([h for h in self.fleet.hosts if h != owner])
                try:
                    status, data = self.fleet.metadata(host, sid)
                except OSError as exc:
                    self.errors.append(f"{host} about {sid}: {exc}")
                    self.stop.wait(0.1)
                    continue
                self.statuses[status] += 1
                if status == 200:
                    self.served.append(f"{host} served {sid} of {owner}: {data.get('name')}")
                self.stop.wait(0.01)
        except BaseException as exc:
            self.crash = exc


def wait_for(what: str, check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.2)


def agent_problems(fleet: Fleet, state: dict[str, tuple[str, int]], ids: list[str]) -> list[str]:
    """What the agents' logs do not show yet: for each server of ``ids``, its element
    written on the host the store places it, at the revision of its last change or later,
    and removed (or never written) on every other host that has its domain."""
    events = {host: fleet.agent_events(host) for host in fleet.hosts}
    lines = []
    for sid in ids:
        now = state[sid][0]
        domain = fleet.servers[sid].domain
        change = fleet.last_change.get(sid)
        for host in fleet.hosts:
            if sid not in fleet.defined[host]:
                continue
            seen = events[host].get(domain, [])
            last = seen[-1] if seen else None
            if host == now:
                if last is None or last.kind != "wrote":
                    lines.append(f"{host}: {domain} ({sid}) has no element written last")
                elif change is not None and sid not in fleet.uncertain:
                    since = max((i for i, e in enumerate(seen) if e.kind == "removed"), default=-1)
                    if not any((e.revision or -1) >= change.revision for e in seen[since + 1 :]):
                        lines.append(
                            f"{host}: {domain} ({sid}) not written at revision "
                            f"{change.revision} or later"
                        )
            elif last is not None and last.kind == "wrote":
                lines.append(f"{host}: {domain} ({sid}) moved to {now} but keeps its element")
    return lines


def applied_twice(fleet: Fleet) -> list[str]:
    """Domains whose element an agent wrote twice for one store revision: a change read
    again after a reconnect, and applied again."""
    lines = []
    for host in fleet.hosts:
        for domain, events in fleet.agent_events(host).items():
            revisions = [e.revision for e in events if e.kind == "wrote" and e.revision]
            if len(revisions) != len(set(revisions)):
                lines.append(f"{host}: {domain} written at revisions {revisions}")
    return lines


def test_fleet_converges_after_postgres_restart_and_killed_backends(tmp_path: Path) -> None:
    marks: dict[str, float] = {}
    started = time.monotonic()
    with Fleet(HOSTS, SERVERS, workdir=tmp_path / "fleet", log=print) as fleet:
        marks["started"] = time.monotonic() - started
        assert fleet.serve_has_host, "guestmeta serve has no --host: every host serves all"
        ids = sorted(fleet.servers)
        initial = {sid: server.host for sid, server in fleet.servers.items()}
        rng = random.Random(5)

        # Every host answers for its own servers and for no one else's.
        for host in fleet.hosts:
            for sid in rng.sample(fleet.on_host[host], min(5, SERVERS)):
                status, data = fleet.metadata(host, sid)
                assert status == 200, f"{host} answers {status} for its server {sid}"
                assert data["uuid"] == sid and data["meta"] == {"gen": "0"}
            others = [sid for sid in rng.sample(ids, 10) if initial[sid] != host][:5]
            for sid in others:
                status, _ = fleet.metadata(host, sid)
                assert status == 404, f"{host} answers {status} for {sid} of {initial[sid]}"
        status, _ = fleet._get(
            fleet.services[fleet.hosts[0]].port,
            "/openstack/latest/meta_data.json",
            {"X-Instance-ID": ids[0], "X-Instance-ID-Signature": "0" * 64, "X-Tenant-ID": "x"},
        )
        assert status == 403, f"a bad signature got {status}"

        prober, changer = Prober(fleet), Changer(fleet)
        prober.start()
        changer.start()
        try:
            wait_for("first changes", lambda: len(changer.stored) >= 3, FAULT_WAIT_S)

            fleet.restart_postgres()
            restarted = time.monotonic()
            wait_for(
                "a change after the restart",
                lambda: changer.stored_since(restarted) >= 3,
                FAULT_WAIT_S,
            )
            assert not fleet.exited(), fleet.exited()

            # Each agent and service keeps a connection (LISTEN): they are back.
            wait_for(
                "the hosts' connections after the restart",
                lambda: fleet.connections() >= 2 * HOSTS,
                FAULT_WAIT_S,
            )
            killed = fleet.kill_backends()
            assert killed >= 2 * HOSTS, f"only {killed} backends on the fleet's database"
            cut = time.monotonic()
            wait_for("a change after the kill", lambda: changer.stored_since(cut) >= 3, 60)
            time.sleep(3)
        finally:
            changer.stop.set()
            changer.join(30)
        assert changer.crash is None, f"the changer failed: {changer.crash!r}"
        assert changer.moves > 0, "no server moved"
        marks["changes"] = time.monotonic() - started
        print(
            f"{len(changer.stored)} changes stored ({changer.moves} moves), "
            f"{len(changer.failed)} refused while the store was down, "
            f"{killed} backends killed"
        )

        # Convergence: every host agrees with the store, as it stands now.
        state = fleet.store_state()
        assert len(state) == len(ids)
        changed = sorted(sid for sid, (host, gen) in state.items() if gen or host != initial[sid])
        moved = sorted(fleet.moved)
        assert changed, "no change reached the store"
        deadline = time.monotonic() + CONVERGE_S
        problems: list[str] = ["not checked"]
        while problems and time.monotonic() < deadline:
            problems = (
                fleet.stale_answers(state, changed)
                + fleet.foreign_answers(state, moved)
                + agent_problems(fleet, state, changed)
            )
            if problems:
                time.sleep(1)
        assert not problems, f"{len(problems)} not converged: " + "; ".join(problems[:20])
        twice = applied_twice(fleet)
        assert not twice, f"{len(twice)} applied twice: " + "; ".join(twice[:10])
        marks["converged"] = time.monotonic() - started

        # The whole fleet, every server on its host (what fails is asked again, until the
        # same deadline).
        pending = ids
        while True:
            pending = [sid for sid in pending if fleet.stale_answers(state, [sid])]
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(1)
        lines = fleet.stale_answers(state, pending)
        assert not lines, f"{len(lines)} stale: " + "; ".join(lines[:20])
        marks["swept"] = time.monotonic() - started

        if fleet.status_available:
            rows: list[dict[str, object]] = []

            def settled() -> bool:
                nonlocal rows
                report = fleet.status() or {}
                rows = list(report.get("hosts", []))
                return bool(rows) and all(not r["lag"] and not r["stale"] for r in rows)

            wait_for("guestmeta status: every host current", settled, 30)
            roles = {(r["host"], r["role"]) for r in rows}
            assert roles >= {(h, k) for h in fleet.hosts for k in ("agent", "serve")}, roles

        prober.stop.set()
        prober.join(30)
        assert prober.crash is None, f"the prober failed: {prober.crash!r}"
        assert not prober.served, f"{len(prober.served)} foreign answers: {prober.served[:10]}"
        assert prober.statuses[404] > 100, f"too few probes: {dict(prober.statuses)}"
        assert set(prober.statuses) == {404}, dict(prober.statuses)
        assert not prober.errors, f"{len(prober.errors)} failed probes: {prober.errors[:5]}"
        assert not fleet.exited(), fleet.exited()
        print(
            f"fleet {HOSTS}x{SERVERS}: {sum(prober.statuses.values())} foreign probes, all 404; "
            + ", ".join(f"{k} {v:.0f} s" for k, v in marks.items())
        )
