"""guestmeta's long-running commands for one host, started as an operator starts them.

The agent, the metadata service and the exporter run as their own processes, from the
same ``guestmeta`` command an operator types, on one store: what the demo shows and the
end-to-end tests check is the shipped command line, not a library call standing in for
it. Each process logs to a file of its own, and :meth:`Host.stop` ends every one it
started by its PID (SIGTERM, then SIGKILL), so nothing outlives the run.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

STOP_WAIT = 10.0  # seconds a process gets to end after SIGTERM


def guestmeta_command() -> str:
    """The ``guestmeta`` entry point of the running environment."""
    beside = Path(sys.executable).parent / "guestmeta"
    return str(beside) if beside.exists() else "guestmeta"


def free_port() -> int:
    """A loopback TCP port nothing listens on now (the caller binds it soon after)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Until ``url`` answers at all; RuntimeError naming it after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(
                    f"{url}: the process serving it exited ({proc.returncode})"
                ) from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout:g} s") from None
        time.sleep(0.1)


@dataclass
class Host:
    """guestmeta's processes for one compute host, all on the store at ``db``."""

    workdir: Path
    db: str
    host: str
    uri: str = "qemu:///system"
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return dict(os.environ, GUESTMETA_DB=self.db, LIBVIRT_DEFAULT_URI=self.uri)

    def command(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """One ``guestmeta`` command on this host's store, its output captured."""
        done = subprocess.run(
            [guestmeta_command(), *args], env=self.env, capture_output=True, text=True
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"guestmeta {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}"
            )
        return done

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """Start ``guestmeta ARGS`` in the background, its output in ``<name>.log``."""
        with open(self.log(name), "ab") as out:
            proc = subprocess.Popen(
                [guestmeta_command(), *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C on the terminal reaches us, not it
            )
        self.procs[name] = proc
        return proc

    def start_agent(self, drives: Path | None = None, interval: float = 60.0) -> None:
        args = ["agent", "--host", self.host, "--interval", str(interval)]
        if drives is not None:
            drives.mkdir(parents=True, exist_ok=True)
            args += ["--config-drives", str(drives)]
        self.start("agent", *args)

    def start_service(self, channels: dict[str, int]) -> None:
        """The metadata service with one loopback port per server (``channel`` listeners):
        whoever reaches a port is that server."""
        lines = ["access_log = true"]
        for server, port in channels.items():
            lines += ["[[listen]]", f'address = "127.0.0.1:{port}"', f'server = "{server}"']
        config = self.workdir / "serve.toml"
        config.write_text("\n".join(lines) + "\n")
        proc = self.start("serve", "serve", "--config", str(config), "--workers", "1")
        for port in channels.values():
            wait_http(f"http://127.0.0.1:{port}/", 30, proc)

    def start_exporter(self, port: int) -> None:
        proc = self.start("exporter", "exporter", "--listen", f"127.0.0.1:{port}")
        wait_http(f"http://127.0.0.1:{port}/metrics", 30, proc)

    def stop(self) -> None:
        """End every process started here, by its PID; the ones that linger are killed."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()


__all__ = ["Host", "free_port", "guestmeta_command", "wait_http"]
