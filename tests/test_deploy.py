"""The systemd units and the example settings in deploy/: hardened, and runnable as written.

systemd does not run on the test machines, so the units are checked three ways: their
hardening directives are read from the files; every ExecStart is run with ``--help``
appended (an option the command does not have fails the parse, exit 2); and
``systemd-analyze verify``, when installed, loads them (with ExecStart pointed at this
environment's ``guestmeta``, since verify wants the binary to exist) and must print
nothing: an unknown directive or a bad value is only a warning there.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from guestmeta.service.settings import CHANNEL, SECRET_ENV, load_settings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNITS = {
    name: DEPLOY / "systemd" / f"guestmeta-{name}.service"
    for name in ("serve", "agent", "exporter")
}
INSTALLED = "/usr/local/bin/guestmeta"
GUESTMETA = str(Path(sys.executable).with_name("guestmeta"))


def directives(path: Path) -> dict[str, list[str]]:
    """``Section.Key`` -> every value given (systemd allows repeating a key)."""
    found: dict[str, list[str]] = {}
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return found


def one(unit: dict[str, list[str]], key: str) -> str:
    values = unit.get(f"Service.{key}", [])
    assert len(values) == 1, (key, values)
    return values[0]


@pytest.mark.parametrize("name", sorted(UNITS))
def test_every_unit_is_hardened(name: str) -> None:
    unit = directives(UNITS[name])
    assert one(unit, "ProtectSystem") == "strict"
    for key in ("ProtectHome", "NoNewPrivileges", "PrivateTmp", "PrivateDevices"):
        assert one(unit, key) == "yes", key
    for key in ("ProtectKernelTunables", "ProtectKernelModules", "ProtectControlGroups"):
        assert one(unit, key) == "yes", key
    families = set(one(unit, "RestrictAddressFamilies").split())
    assert families == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert one(unit, "SystemCallArchitectures") == "native"
    assert unit["Install.WantedBy"] == ["multi-user.target"]


def test_each_unit_has_only_the_capabilities_and_writable_paths_it_needs() -> None:
    serve, agent, exporter = (directives(UNITS[n]) for n in ("serve", "agent", "exporter"))
    # Port 80 and SO_BINDTODEVICE; nothing else, and nothing ambient.
    assert set(one(serve, "CapabilityBoundingSet").split()) == {
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_RAW",
    }
    assert (
        one(agent, "CapabilityBoundingSet") == "" and one(exporter, "CapabilityBoundingSet") == ""
    )
    for unit in (serve, agent, exporter):
        assert one(unit, "AmbientCapabilities") == ""
    # The SQLite store for the two that open it; the exporter never writes.
    assert serve["Service.ReadWritePaths"] == ["/var/lib/guestmeta"]
    assert agent["Service.ReadWritePaths"] == ["/var/lib/guestmeta"]
    assert "Service.ReadWritePaths" not in exporter and "Service.StateDirectory" not in exporter
    assert one(exporter, "DynamicUser") == "yes"
    assert one(serve, "RuntimeDirectory") == "guestmeta"  # unix channel sockets
    # A listener address that appears only when its libvirt network starts: retry forever.
    assert one(serve, "Restart") == "on-failure" and serve["Unit.StartLimitIntervalSec"] == ["0"]


@pytest.mark.parametrize("name", sorted(UNITS))
def test_exec_start_is_a_guestmeta_command_with_valid_options(name: str) -> None:
    command = shlex.split(one(directives(UNITS[name]), "ExecStart"))
    assert command[0] == INSTALLED and command[1] == name
    done = subprocess.run(
        [GUESTMETA, *command[1:], "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert f"Usage: guestmeta {name}" in done.stdout
    # Every option the unit passes is one the command lists.
    for word in command[2:]:
        if word.startswith("--"):
            assert word in done.stdout, word


def test_serve_reads_the_settings_file_the_example_is_for() -> None:
    command = shlex.split(one(directives(UNITS["serve"]), "ExecStart"))
    assert command[command.index("--config") + 1] == "/etc/guestmeta/serve.toml"
    settings = load_settings(DEPLOY / "serve.toml", {})
    interfaces = [(str(li.endpoint), li.interface, li.network) for li in settings.listeners]
    assert interfaces[:2] == [
        ("169.254.169.254:80", "virbr0", "lan"),
        ("169.254.169.254:80", "br0", "dmz"),
    ]
    assert settings.listeners[2].mode == CHANNEL
    assert SECRET_ENV not in (DEPLOY / "serve.toml").read_text()


def test_systemd_analyze_verify_accepts_the_units_without_a_warning(tmp_path: Path) -> None:
    copies = []
    for name, path in UNITS.items():
        text = path.read_text()
        assert INSTALLED in text
        copy = tmp_path / path.name
        copy.write_text(text.replace(INSTALLED, GUESTMETA))
        copies.append(str(copy))
        assert name in copy.name
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *copies],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stderr == "" and done.stdout == "", done.stderr
    # And verify does catch a bad directive, so the silence above means something.
    bad = tmp_path / "guestmeta-bad.service"
    bad.write_text(Path(copies[0]).read_text().replace("ProtectSystem=", "ProtectSystm="))
    caught = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(bad)], capture_output=True, text=True
    )
    assert "ProtectSystm" in caught.stderr
