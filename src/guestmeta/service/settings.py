"""The metadata service's settings: a TOML file, then ``GUESTMETA_*`` variables, then flags.

Every setting has a default that serves a single host on loopback, so ``guestmeta serve``
runs with no file at all. The file only adds what an operator must decide: which
addresses to listen on, which network each listener faces, which proxies to trust and
which servers get a private channel. ``docs/operator-guide.md`` lists every key.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

# What a listener with no mode identifies callers by.
ADDRESS, PROXY, CHANNEL = "address", "proxy", "channel"
MODES = (ADDRESS, PROXY)
SECRET_ENV = "GUESTMETA_METADATA_PROXY_SHARED_SECRET"
DEFAULT_LISTEN = "127.0.0.1:8775"  # Nova's metadata port
MAX_TOKEN_TTL = 21600


class SettingsError(ValueError):
    """A setting that cannot be used; the message names the key and the value."""


@dataclass(frozen=True)
class Endpoint:
    """Where a socket listens: an address and port, or a unix socket path."""

    host: str = ""
    port: int = 0
    path: str = ""

    @classmethod
    def parse(cls, text: object, key: str) -> Endpoint:
        """``ADDR:PORT``, ``[V6]:PORT`` or ``unix:/PATH``."""
        if not isinstance(text, str):
            raise SettingsError(f"{key}: expected ADDRESS:PORT or unix:/PATH, got {text!r}")
        if text.startswith("unix:"):
            path = text[5:]
            if not path.startswith("/"):
                raise SettingsError(f"{key}: unix socket path must be absolute: {text!r}")
            return cls(path=path)
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise SettingsError(f"{key}: expected ADDRESS:PORT or unix:/PATH, got {text!r}")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        elif ":" in host:  # is "::1:80" port 80 of ::1, or the address ::1:80?
            raise SettingsError(f"{key}: an IPv6 address needs brackets, [ADDRESS]:PORT: {text!r}")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise SettingsError(f"{key}: not an IP address: {host!r}") from None
        return cls(host=host, port=int(port))

    def __str__(self) -> str:
        if self.path:
            return f"unix:{self.path}"
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Listener:
    """One socket guests reach, and how it tells who is calling.

    ``address``: the caller's source address (``network``: looked up on that network
    only, so one address on two networks reaches two servers; ``interface``: the socket
    is bound to that device, so two links with the same addresses are told apart).
    ``proxy``: a Neutron metadata proxy calls with signed headers.
    ``channel``: every caller is ``server`` (a socket only that guest can reach).
    """

    endpoint: Endpoint
    mode: str = ADDRESS
    network: str = ""
    interface: str = ""
    server: str = ""


@dataclass(frozen=True)
class Settings:
    listeners: tuple[Listener, ...] = (Listener(Endpoint.parse(DEFAULT_LISTEN, "listen")),)
    admin: Endpoint | None = None
    workers: int = 1
    db: str | None = None
    # Serve only the servers the store places on this compute host, from its feed; empty:
    # every server in the store (one host with its own store).
    host: str = ""
    # A read replica of the PostgreSQL store, for the host's copy (with ``host`` only).
    feed_db: str = ""
    dhcp_domain: str = "novalocal"
    proxy_shared_secret: str = ""
    trusted_proxies: tuple[str, ...] = ()
    require_tokens: bool = False
    rate_limit: float = 100.0  # requests per second per server; 0 turns it off
    rate_burst: int = 200
    refresh_interval: float = 0.25  # seconds between revision checks when not notified
    access_log: bool = True
    vendor_data_dir: str = ""

    def channel_servers(self) -> list[str]:
        return [listener.server for listener in self.listeners if listener.mode == CHANNEL]


def _listener(raw: Mapping[str, Any], key: str) -> Listener:
    unknown = set(raw) - {"address", "mode", "network", "interface", "server"}
    if unknown:
        raise SettingsError(f"{key}: unknown key {sorted(unknown)[0]!r}")
    if "address" not in raw:
        raise SettingsError(f"{key}.address: required, ADDRESS:PORT or unix:/PATH")
    endpoint = Endpoint.parse(raw["address"], f"{key}.address")
    server = _str(raw, "server", key)
    mode = _str(raw, "mode", key) or (CHANNEL if server else ADDRESS)
    if mode not in (*MODES, CHANNEL):
        raise SettingsError(f"{key}.mode: one of address, proxy, channel, got {mode!r}")
    if mode == CHANNEL and not server:
        raise SettingsError(f"{key}.server: required for mode 'channel' (a server id or name)")
    if mode != CHANNEL and server:
        raise SettingsError(f"{key}.server: only a channel names a server, not mode {mode!r}")
    interface = _str(raw, "interface", key)
    if interface and endpoint.path:
        raise SettingsError(f"{key}.interface: a unix socket has no interface: {interface!r}")
    if interface and not _device_name(interface):
        raise SettingsError(f"{key}.interface: not a network interface name: {interface!r}")
    return Listener(endpoint, mode, _str(raw, "network", key), interface, server)


def _device_name(name: str) -> bool:
    """What Linux accepts as a device name (dev_valid_name): 1-15 bytes, no / : or blanks."""
    return (
        0 < len(name.encode()) < 16
        and name not in (".", "..")
        and all(c.isprintable() and not c.isspace() and c not in "/:" for c in name)
    )


def _str(raw: Mapping[str, Any], name: str, key: str) -> str:
    value = raw.get(name, "")
    if not isinstance(value, str):
        raise SettingsError(f"{key}.{name}: expected a string, got {value!r}")
    return value


_SCALARS: dict[str, type] = {
    "workers": int,
    "db": str,
    "host": str,
    "feed_db": str,
    "dhcp_domain": str,
    "proxy_shared_secret": str,
    "require_tokens": bool,
    "rate_limit": float,
    "rate_burst": int,
    "refresh_interval": float,
    "access_log": bool,
    "vendor_data_dir": str,
}


def variable(name: str) -> str:
    """The environment variable of a setting: ``GUESTMETA_<NAME>``, with one exception.

    ``vendor_data_dir`` is ``GUESTMETA_VENDOR_DATA``, the variable ``guestmeta render``
    already reads, so that both show guests the same vendor data.
    """
    return "GUESTMETA_VENDOR_DATA" if name == "vendor_data_dir" else f"GUESTMETA_{name.upper()}"


def _coerce(name: str, value: Any, source: str) -> Any:
    kind = _SCALARS[name]
    if isinstance(value, str) and kind is not str:
        text = value.strip().lower()
        try:
            if kind is bool:
                if text not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError
                return text in ("1", "true", "yes")
            return kind(text)
        except ValueError:
            raise SettingsError(f"{source}: expected {kind.__name__}, got {value!r}") from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SettingsError(f"{source}: expected {kind.__name__}, got {value!r}")
    return value


def load_settings(
    path: Path | None = None, env: Mapping[str, str] | None = None, **overrides: Any
) -> Settings:
    """The file (if any), then the environment, then ``overrides`` (the command's flags)."""
    env = os.environ if env is None else env
    raw = _read(path) if path is not None else {}
    values: dict[str, Any] = {}
    for key in raw:
        if key not in (*_SCALARS, "listen", "admin_listen", "trusted_proxies"):
            raise SettingsError(f"{path}: unknown setting {key!r}")
    for name in _SCALARS:
        if name in raw:
            values[name] = _coerce(name, raw[name], f"{path}: {name}")
        var = variable(name)
        if var in env and name != "db":  # GUESTMETA_DB is the command's --db
            values[name] = _coerce(name, env[var], var)
    if SECRET_ENV in env:
        values["proxy_shared_secret"] = env[SECRET_ENV]
    if "listen" in raw:
        entries = raw["listen"]
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise SettingsError(f"{path}: listen: expected [[listen]] tables, got {entries!r}")
        values["listeners"] = tuple(
            _listener(entry, f"listen[{i}]") for i, entry in enumerate(entries)
        )
    if "GUESTMETA_LISTEN" in env:  # like --listen: address-mode listeners only
        values["listeners"] = tuple(
            Listener(Endpoint.parse(item, "GUESTMETA_LISTEN"))
            for item in env["GUESTMETA_LISTEN"].replace(",", " ").split()
        )
    if "admin_listen" in raw:
        values["admin"] = Endpoint.parse(raw["admin_listen"], f"{path}: admin_listen")
    if "GUESTMETA_ADMIN_LISTEN" in env:
        values["admin"] = Endpoint.parse(env["GUESTMETA_ADMIN_LISTEN"], "GUESTMETA_ADMIN_LISTEN")
    if "trusted_proxies" in raw:
        values["trusted_proxies"] = _addresses(raw["trusted_proxies"], "trusted_proxies")
    if "GUESTMETA_TRUSTED_PROXIES" in env:
        items = env["GUESTMETA_TRUSTED_PROXIES"].replace(",", " ").split()
        values["trusted_proxies"] = _addresses(items, "GUESTMETA_TRUSTED_PROXIES")
    values.update({k: v for k, v in overrides.items() if v is not None})
    settings = replace(Settings(), **values)
    _check(settings)
    return settings


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"{path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None


def _addresses(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise SettingsError(f"{key}: expected a list of addresses, got {value!r}")
    out = []
    for item in value:
        try:
            if not isinstance(item, str):  # ip_address(5) would be 0.0.0.5
                raise ValueError
            out.append(str(ipaddress.ip_address(item)))
        except ValueError:
            raise SettingsError(f"{key}: not an IP address: {item!r}") from None
    return tuple(out)


def _check(settings: Settings) -> None:
    if settings.workers < 1:
        raise SettingsError(f"workers: at least 1, got {settings.workers}")
    if settings.rate_limit < 0:
        raise SettingsError(f"rate_limit: at least 0 (0: no limit), got {settings.rate_limit}")
    if settings.rate_burst < 1:
        raise SettingsError(f"rate_burst: at least 1, got {settings.rate_burst}")
    if not 0.01 <= settings.refresh_interval <= 1.0:
        raise SettingsError(
            f"refresh_interval: between 0.01 and 1 second (changes show in 1 s), "
            f"got {settings.refresh_interval}"
        )
    if not settings.listeners:
        raise SettingsError("listen: at least one listener")
    if settings.feed_db and not settings.host:
        raise SettingsError("feed_db: a replica serves a host's feed; set host too")
    for listener in settings.listeners:
        if listener.mode == PROXY and not settings.proxy_shared_secret:
            raise SettingsError(
                f"listen {listener.endpoint}: a proxy listener needs proxy_shared_secret "
                f"(or {SECRET_ENV})"
            )
    seen: set[Endpoint | tuple[Endpoint, str]] = set()
    for listener in settings.listeners:
        key = (listener.endpoint, listener.interface) if listener.interface else listener.endpoint
        if key in seen:
            where = f" on {listener.interface}" if listener.interface else ""
            raise SettingsError(f"listen: {listener.endpoint}{where} is listed twice")
        seen.add(key)
