"""Settings of ``guestmeta serve``: the TOML file, then ``GUESTMETA_*`` variables, then flags.

Every refusal is one line that names the key and the value it refused; the command
exits 1 with that line alone on stderr before anything listens. The defaults are the
ones docs/operator-guide.md lists (checked against its table).
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from guestmeta.service.settings import (
    ADDRESS,
    CHANNEL,
    PROXY,
    SECRET_ENV,
    Endpoint,
    Listener,
    Settings,
    SettingsError,
    load_settings,
)
from tests.service.conftest import environment, filled_store, free_port, start, stop

GUIDE = Path(__file__).parents[2] / "docs" / "operator-guide.md"
GUESTMETA = str(Path(sys.executable).with_name("guestmeta"))


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None, **flags: object) -> Settings:
    path = tmp_path / "serve.toml"
    path.write_text(text)
    return load_settings(path, env or {}, **flags)


def refusal(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(SettingsError) as caught:
        load(tmp_path, text, env)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_no_file_and_no_variables_gives_the_defaults() -> None:
    settings = load_settings(None, {})
    assert settings == Settings()
    # Each checked by hand against the guide: Nova's port on loopback, by source address.
    assert settings.listeners == (Listener(Endpoint("127.0.0.1", 8775), ADDRESS),)
    assert settings.admin is None and settings.workers == 1 and settings.db is None
    assert settings.dhcp_domain == "novalocal" and settings.trusted_proxies == ()
    assert settings.require_tokens is False and settings.access_log is True
    assert (settings.rate_limit, settings.rate_burst, settings.refresh_interval) == (
        100.0,
        200,
        0.25,
    )


def test_a_full_file_is_read_as_written(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        """
workers = 3
db = "postgresql://guestmeta@/guestmeta"
dhcp_domain = ""
proxy_shared_secret = "s"
trusted_proxies = ["10.0.0.2", "fd00::0002"]
require_tokens = true
rate_limit = 5
rate_burst = 10
refresh_interval = 0.5
access_log = false
vendor_data_dir = "/etc/guestmeta/vendor"
admin_listen = "[::1]:9101"
[[listen]]
address = "169.254.169.254:80"
interface = "virbr0"
network = "default"
[[listen]]
address = "10.0.0.1:8775"
mode = "proxy"
[[listen]]
address = "unix:/run/guestmeta/web-01.sock"
server = "web-01"
""",
    )
    assert settings.workers == 3 and settings.db == "postgresql://guestmeta@/guestmeta"
    assert settings.dhcp_domain == "" and settings.require_tokens is True
    assert settings.trusted_proxies == ("10.0.0.2", "fd00::2")
    assert settings.rate_limit == 5.0 and isinstance(settings.rate_limit, float)
    assert settings.admin == Endpoint("::1", 9101)
    assert settings.listeners == (
        Listener(Endpoint("169.254.169.254", 80), ADDRESS, "default", "virbr0"),
        Listener(Endpoint("10.0.0.1", 8775), PROXY),
        Listener(Endpoint(path="/run/guestmeta/web-01.sock"), CHANNEL, server="web-01"),
    )
    assert settings.channel_servers() == ["web-01"]


def test_variables_override_the_file_and_flags_override_both(tmp_path: Path) -> None:
    text = 'workers = 2\nrate_limit = 7\n[[listen]]\naddress = "127.0.0.1:81"\n'
    env = {
        "GUESTMETA_WORKERS": "4",
        "GUESTMETA_REQUIRE_TOKENS": "yes",
        "GUESTMETA_ACCESS_LOG": "0",
        "GUESTMETA_LISTEN": "127.0.0.1:82, [::1]:83",
        "GUESTMETA_ADMIN_LISTEN": "127.0.0.1:84",
        "GUESTMETA_TRUSTED_PROXIES": "10.1.1.1,10.1.1.2",
        SECRET_ENV: "from-env",
        "GUESTMETA_DB": "sqlite:///ignored-here.db",  # the command's --db, not a setting
        "GUESTMETA_VENDOR_DATA": "/srv/vendor",  # as guestmeta render reads it
    }
    settings = load(tmp_path, text, env)
    assert settings.workers == 4 and settings.rate_limit == 7.0
    assert settings.require_tokens is True and settings.access_log is False
    assert [str(li.endpoint) for li in settings.listeners] == ["127.0.0.1:82", "[::1]:83"]
    assert settings.admin == Endpoint("127.0.0.1", 84)
    assert settings.trusted_proxies == ("10.1.1.1", "10.1.1.2")
    assert settings.proxy_shared_secret == "from-env" and settings.db is None
    assert settings.vendor_data_dir == "/srv/vendor"
    flagged = load(tmp_path, text, env, workers=6, listeners=None)
    assert flagged.workers == 6 and len(flagged.listeners) == 2  # None: flag not given


@pytest.mark.parametrize(
    ("text", "env", "names"),
    [
        ("workerz = 2", {}, ["workerz"]),
        ('[[listen]]\naddress = "127.0.0.1:80"\nnetwrk = "a"', {}, ["listen[0]", "netwrk"]),
        ('[[listen]]\naddress = "localhost:80"', {}, ["listen[0].address", "localhost"]),
        ('[[listen]]\naddress = "10.0.0.300:80"', {}, ["listen[0].address", "10.0.0.300"]),
        ('[[listen]]\naddress = "127.0.0.1:65536"', {}, ["listen[0].address", "65536"]),
        ('[[listen]]\naddress = "127.0.0.1:0"', {}, ["listen[0].address", "127.0.0.1:0"]),
        ('[[listen]]\naddress = "127.0.0.1"', {}, ["listen[0].address", "127.0.0.1"]),
        ('[[listen]]\naddress = "::1:80"', {}, ["listen[0].address", "::1:80"]),
        ('[[listen]]\naddress = "unix:run/x.sock"', {}, ["listen[0].address", "run/x.sock"]),
        ("[[listen]]\naddress = 80", {}, ["listen[0].address", "80"]),
        ('[[listen]]\nmode = "proxy"', {}, ["listen[0].address", "required"]),
        ('[[listen]]\naddress = "127.0.0.1:80"\nmode = "dns"', {}, ["listen[0].mode", "dns"]),
        (
            '[[listen]]\naddress = "127.0.0.1:80"\nmode = "proxy"',
            {},
            ["127.0.0.1:80", "proxy_shared_secret"],
        ),
        (
            '[[listen]]\naddress = "127.0.0.1:80"\nmode = "channel"',
            {},
            ["listen[0].server", "channel"],
        ),
        (
            '[[listen]]\naddress = "127.0.0.1:80"\nserver = "web-01"\nmode = "address"',
            {},
            ["listen[0].server", "address"],
        ),
        (
            '[[listen]]\naddress = "127.0.0.1:80"\n[[listen]]\naddress = "127.0.0.1:80"',
            {},
            ["listen", "127.0.0.1:80", "twice"],
        ),
        (
            '[[listen]]\naddress = "10.0.0.1:80"\ninterface = "br0"\n'
            '[[listen]]\naddress = "10.0.0.1:80"\ninterface = "br0"',
            {},
            ["10.0.0.1:80 on br0", "twice"],
        ),
        (
            '[[listen]]\naddress = "127.0.0.1:80"\ninterface = "a-very-long-bridge0"',
            {},
            ["listen[0].interface", "a-very-long-bridge0"],
        ),
        ('[[listen]]\naddress = "unix:/run/x"\ninterface = "br0"', {}, ["interface", "br0"]),
        ('[[listen]]\naddress = "127.0.0.1:80"\nnetwork = 5', {}, ["listen[0].network", "5"]),
        ("listen = []", {}, ["listen", "at least one"]),
        ('listen = "127.0.0.1:80"', {}, ["listen", "127.0.0.1:80"]),
        ('admin_listen = "127.0.0.1"', {}, ["admin_listen", "127.0.0.1"]),
        ("admin_listen = 9100", {}, ["admin_listen", "9100"]),
        ('trusted_proxies = "10.0.0.2"', {}, ["trusted_proxies", "10.0.0.2"]),
        ('trusted_proxies = ["10.0.0.0/24"]', {}, ["trusted_proxies", "10.0.0.0/24"]),
        ("trusted_proxies = [5]", {}, ["trusted_proxies", "5"]),
        ('workers = "two"', {}, ["workers", "two"]),
        ("workers = true", {}, ["workers", "True"]),
        ("workers = 1.5", {}, ["workers", "1.5"]),
        ("workers = 0", {}, ["workers", "0"]),
        ("rate_limit = -1", {}, ["rate_limit", "-1"]),
        ("rate_burst = 0", {}, ["rate_burst", "0"]),
        ("refresh_interval = 5", {}, ["refresh_interval", "5"]),
        ('require_tokens = "maybe"', {}, ["require_tokens", "maybe"]),
        ("dhcp_domain = 1", {}, ["dhcp_domain", "1"]),
        ("workers = 2\nworkers = 3\nrate_burst = 1\n", {}, ["not valid TOML", "line 2"]),
        ("", {"GUESTMETA_WORKERS": "many"}, ["GUESTMETA_WORKERS", "many"]),
        ("", {"GUESTMETA_ACCESS_LOG": "on"}, ["GUESTMETA_ACCESS_LOG", "on"]),
        ("", {"GUESTMETA_RATE_LIMIT": "fast"}, ["GUESTMETA_RATE_LIMIT", "fast"]),
        ("", {"GUESTMETA_LISTEN": "127.0.0.1:80 nowhere"}, ["GUESTMETA_LISTEN", "nowhere"]),
        ("", {"GUESTMETA_ADMIN_LISTEN": ":9100"}, ["GUESTMETA_ADMIN_LISTEN", "''"]),
        ("", {"GUESTMETA_TRUSTED_PROXIES": "proxy1"}, ["GUESTMETA_TRUSTED_PROXIES", "proxy1"]),
    ],
)
def test_every_refusal_is_one_line_naming_key_and_value(
    tmp_path: Path, text: str, env: dict[str, str], names: list[str]
) -> None:
    message = refusal(tmp_path, text, env)
    for name in names:
        assert name in message, (name, message)


def test_a_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"nothing\.toml: No such file"):
        load_settings(tmp_path / "nothing.toml", {})


def test_every_setting_is_in_the_guide_with_its_default() -> None:
    """The guide's settings table: `key` | `GUESTMETA_KEY` | default, one row per setting."""
    rows = {}
    for line in GUIDE.read_text().splitlines():
        found = re.match(r"\| `([a-z_\[\].]+)` \| (`GUESTMETA_[A-Z_]+`|[^|]*?) \| ([^|]*) \|", line)
        if found:
            rows[found.group(1)] = found.group(3).strip()
    defaults = Settings()
    for name in (
        "workers",
        "dhcp_domain",
        "require_tokens",
        "rate_limit",
        "rate_burst",
        "refresh_interval",
        "access_log",
    ):
        value = getattr(defaults, name)
        shown = str(value).lower() if isinstance(value, bool) else repr(value).strip("'")
        assert rows.get(name) == f"`{shown}`", (name, rows.get(name))
    for name in ("db", "proxy_shared_secret", "trusted_proxies", "vendor_data_dir"):
        assert name in rows, name
    assert rows.get("admin_listen") == "none"
    assert rows.get("listen") == "`127.0.0.1:8775`"
    for key in ("address", "mode", "network", "interface", "server"):
        assert f"listen[].{key}" in rows, key


def run_serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GUESTMETA, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env or environment(),
    )


def test_serve_with_a_bad_file_exits_1_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[listen]]\naddress = "127.0.0.1:99999"\n')
    done = run_serve("--db", f"sqlite:///{tmp_path / 's.db'}", "serve", "--config", str(bad))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert "listen[0].address" in done.stderr and "127.0.0.1:99999" in done.stderr
    assert not (tmp_path / "s.db").exists()  # refused before the store was opened


def test_serve_on_a_port_in_use_exits_1_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_serve(
            "--db", f"sqlite:///{tmp_path / 's.db'}", "serve", "--listen", f"127.0.0.1:{port}"
        )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == f"guestmeta: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_serve_on_a_missing_interface_exits_1_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text(f'[[listen]]\naddress = "127.0.0.1:{free_port()}"\ninterface = "gmnosuch0"\n')
    done = run_serve("--db", f"sqlite:///{tmp_path / 's.db'}", "serve", "--config", str(config))
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "on gmnosuch0" in done.stderr and "No such device" in done.stderr


def test_serve_takes_bad_variables_and_flags_in_one_line(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 's.db'}"
    env = {**environment(), "GUESTMETA_WORKERS": "lots"}
    done = run_serve("--db", db, "serve", env=env)
    assert done.returncode == 1
    assert done.stderr == "guestmeta: GUESTMETA_WORKERS: expected int, got 'lots'\n"
    done = run_serve("--db", db, "serve", "--listen", "127.0.0.1")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "guestmeta: --listen: expected ADDRESS:PORT or unix:/PATH, got '127.0.0.1'"
    ]


def test_db_flag_comes_before_the_files_db(tmp_path: Path) -> None:
    unusable = 'db = "sqlite:////dev/null/store.db"\n'
    config = tmp_path / "serve.toml"
    config.write_text(unusable)
    env = {k: v for k, v in environment().items() if k != "GUESTMETA_DB"}
    done = run_serve("serve", "--config", str(config), "--listen", "127.0.0.1:1", env=env)
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "cannot open store sqlite:////dev/null/store.db" in done.stderr
    # The same file with --db: the file's db is not used (the service starts and serves).
    db = f"sqlite:///{tmp_path / 'store.db'}"
    filled_store(db)
    port = free_port()
    text = unusable + f'[[listen]]\naddress = "127.0.0.1:{port}"\n'
    service = start(tmp_path, db, text, port=port, admin=free_port())
    try:
        assert service.health()["ready"] is True
    finally:
        stop(service)
