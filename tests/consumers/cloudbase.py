"""cloudbase-init (the Windows guest agent) reading our network_data.json.

Its OpenStack metadata service parses the document into links, networks and name-server
services, which its network plugin then applies to the guest. The parse is the part that
runs anywhere, and the part that decides what a Windows guest gets from our document.
"""

from __future__ import annotations

from typing import Any

from tests.consumers._run import ConsumerError, run_script


def parse_network_data(network_data: dict[str, Any]) -> dict[str, Any]:
    """cloudbase-init's NetworkDetailsV2 for a network_data.json, as plain JSON.

    ``{"links": [{id, name, type: physical|vlan|bond, enabled, mac_address, mtu,
    bond: {members, type, lb_algorithm, lacp_rate} | None, vlan_link, vlan_id}],
    "networks": [{link, address_cidr: "ADDR/PREFIX", dns_nameservers: [...],
    routes: [{network_cidr, gateway}]}], "services": [{addresses: [...], search}]}``.
    It keeps only static networks (ipv4, ipv6): DHCP and SLAAC entries are left to the
    guest's own DHCP client, and the gateway is the route to 0.0.0.0/0 (or ::/0).
    """
    details: dict[str, Any] = run_script("cloudbase_network.py", network_data)
    return details


def parse_network_data_many(
    documents: list[dict[str, Any]],
) -> list[dict[str, Any] | ConsumerError]:
    """:func:`parse_network_data` for many documents in one cloudbase-init interpreter.

    Each result is the parsed details, or the :class:`ConsumerError` carrying the traceback
    of the document cloudbase-init refused.
    """
    answers = run_script("cloudbase_network_many.py", documents)
    return [
        ConsumerError("cloudbase_network_many.py", 1, a["error"]) if "error" in a else a["details"]
        for a in answers
    ]
