"""Model objects to and from the JSON kept in each row's ``data`` column.

Columns hold what the store must index or join on; the rest of an item travels
as JSON, so adding a field to the model needs no migration of every table.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import fields, is_dataclass
from datetime import datetime
from typing import Any

from guestmeta.model import (
    AllocationPool,
    Bond,
    FixedIP,
    Flavor,
    FloatingIP,
    HostRoute,
    Keypair,
    Network,
    Port,
    Server,
    Subnet,
    SubPort,
    Trunk,
)


def encode(item: Any) -> dict[str, Any]:
    """A dataclass as plain JSON values: tuples become lists, bytes base64, times ISO."""
    return {f.name: _plain(getattr(item, f.name)) for f in fields(item)}


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return encode(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def decode_network(d: dict[str, Any]) -> Network:
    return Network(**d)


def decode_subnet(d: dict[str, Any]) -> Subnet:
    return Subnet(
        **{
            **d,
            "dns_nameservers": tuple(d["dns_nameservers"]),
            "host_routes": tuple(HostRoute(**r) for r in d["host_routes"]),
            "allocation_pools": tuple(AllocationPool(**p) for p in d["allocation_pools"]),
        }
    )


def decode_port(d: dict[str, Any]) -> Port:
    trunk = d["trunk"]
    return Port(
        **{
            **d,
            "fixed_ips": tuple(FixedIP(**ip) for ip in d["fixed_ips"]),
            "trunk": None
            if trunk is None
            else Trunk(trunk["id"], tuple(SubPort(**s) for s in trunk["sub_ports"])),
        }
    )


def decode_floatingip(d: dict[str, Any]) -> FloatingIP:
    return FloatingIP(**d)


def decode_bond(d: dict[str, Any]) -> Bond:
    return Bond(**{**d, "ports": tuple(d["ports"])})


def decode_keypair(d: dict[str, Any]) -> Keypair:
    return Keypair(**d)


def decode_server(d: dict[str, Any]) -> Server:
    user_data = d["user_data"]
    return Server(
        **{
            **d,
            "created": datetime.fromisoformat(d["created"]),
            "user_data": None if user_data is None else base64.b64decode(user_data),
            "flavor": Flavor(**d["flavor"]),
            "security_groups": tuple(d.get("security_groups", ())),
        }
    )


def row_json(data: Any) -> dict[str, Any]:
    """A ``data`` column's value: psycopg decodes JSONB itself, SQLite may hand back text."""
    return data if isinstance(data, dict) else json.loads(data)


def chunks(ids: list[str], size: int = 500) -> Iterator[list[str]]:
    """``ids`` in slices small enough for one ``IN (...)`` on either database."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


DECODERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "networks": decode_network,
    "subnets": decode_subnet,
    "ports": decode_port,
    "floatingips": decode_floatingip,
    "bonds": decode_bond,
    "keypairs": decode_keypair,
    "servers": decode_server,
}
