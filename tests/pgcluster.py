"""A throw-away PostgreSQL cluster in a temporary directory, for tests and benchmarks.

Started with Debian's initdb/pg_ctl (as the ``postgres`` user when run as root,
since PostgreSQL refuses to run as root), listening only on a unix socket inside
its directory, and stopped by the PID in its ``postmaster.pid``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg


def _bindir() -> Path:
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")


class PostgresCluster:
    def __init__(self, *, fast: bool = True, port: int = 54329) -> None:
        self.fast = fast
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="guestmeta-pg-"))
        self.data = self.dir / "data"
        self.user: str | None = "postgres" if os.geteuid() == 0 else None
        self.pid: int | None = None

    def _run(self, *args: str) -> None:
        cmd = [str(_bindir() / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, text=True)

    def start(self) -> PostgresCluster:
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        options = f"-k {self.dir} -c listen_addresses='' -p {self.port} -c max_connections=200"
        if self.fast:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"),
                  "-w", "-t", "60", "start")  # fmt: skip
        self.pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.dir}&port={self.port}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(
            host=str(self.dir), port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)

    def replica(self, port: int) -> PostgresCluster:
        """A hot standby of this cluster, streaming from it (``pg_basebackup -R``), started
        on ``port``; stop it like any cluster. The base backup asks for a fast checkpoint:
        the default spreads it over minutes."""
        standby = PostgresCluster(fast=self.fast, port=port)
        if standby.user:
            entry = pwd.getpwnam(standby.user)
            os.chown(standby.dir, entry.pw_uid, entry.pw_gid)
        # A standby needs at least the primary's max_connections.
        options = f"-k {standby.dir} -c listen_addresses='' -p {port} -c max_connections=200"
        try:
            standby._run("pg_basebackup", "-h", str(self.dir), "-p", str(self.port),
                         "-U", "postgres", "-D", str(standby.data),
                         "-R", "-X", "stream", "-c", "fast")  # fmt: skip
            standby._run("pg_ctl", "-D", str(standby.data), "-o", options,
                         "-l", str(standby.dir / "log"), "-w", "-t", "60", "start")  # fmt: skip
        except subprocess.CalledProcessError:
            shutil.rmtree(standby.dir, ignore_errors=True)
            raise
        standby.pid = int((standby.data / "postmaster.pid").read_text().splitlines()[0])
        return standby

    def stop(self) -> None:
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGINT)  # fast shutdown
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    os.kill(self.pid, 0)
                    time.sleep(0.05)
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.pid = None
        shutil.rmtree(self.dir, ignore_errors=True)
