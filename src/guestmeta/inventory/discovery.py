"""Prometheus file-based service discovery from guest addresses.

Prometheus reads a JSON list of target groups from a file it watches, so a cron job or
the exporter's host can point Prometheus at every guest by its address, labelled with
the instance it belongs to.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from guestmeta.inventory.rows import Row

LABELS = ("domain", "instance_uuid", "instance_name", "project_uuid", "port_uuid", "type")


def target(ip: str, port: int | None) -> str:
    """``ADDRESS[:PORT]``, with IPv6 addresses in brackets when a port follows."""
    if port is None:
        return ip
    host = f"[{ip}]" if ipaddress.ip_address(ip).version == 6 else ip
    return f"{host}:{port}"


def _valid(ip: str) -> bool:
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return False
    return True


def target_groups(rows: Iterable[Row], port: int | None = None) -> list[dict[str, object]]:
    """One group per address; rows without an address are left out."""
    groups: list[dict[str, object]] = []
    for row in rows:
        if row.ip is None or not _valid(row.ip):
            continue  # a target Prometheus could not scrape
        labels = {name: str(getattr(row, name)) for name in LABELS if getattr(row, name)}
        labels["ip_version"] = str(row.ip_version)
        groups.append({"targets": [target(row.ip, port)], "labels": labels})
    return groups
