"""network-config (version 2) for a NoCloud seed, written from network_data.json.

A NoCloud seed cannot carry network_data.json, so the same links and networks are said
again in the version 2 (netplan) vocabulary that cloud-init reads from ``network-config``.
It is made from the network_data.json document of the same tree, so the two cannot tell
a guest different things, and it says what cloud-init itself makes of that document:

- a ``phy`` (or any exposed VIF type) link is an ``ethernets`` entry matched by its MAC,
  keyed by its link id, without ``set-name``: cloud-init then keeps the guest's own NIC
  name (it names a matched entry after the NIC with that MAC), as it does for
  network_data.json, whose links carry no name;
- a ``bond`` link is a ``bonds`` entry named by its id (the guest's bond device name), with
  its members, MAC, MTU and mode, MII interval and hash policy;
- a ``vlan`` link is a ``vlans`` entry keyed by its link id, on its parent, with its MAC;
- static entries give ``addresses`` (``address/prefix``) and their ``routes``; a DHCP entry
  gives ``dhcp4``/``dhcp6``; SLAAC and both DHCPv6 modes give ``dhcp6: true`` without the
  address and routes (the router advertisements bring them), ``accept-ra`` is on for a
  DHCPv6-stateful subnet and off on a link with static IPv6 only;
- DNS: the document's top-level servers on every link with a static address, which is
  where cloud-init puts them (it ignores per-network DNS).
"""

from __future__ import annotations

import ipaddress
from typing import Any

# network_data.json types that the guest configures itself.
_AUTO6 = ("ipv6_slaac", "ipv6_dhcpv6-stateless", "ipv6_dhcpv6-stateful")
_BOND_PARAMETERS = (
    ("bond_mode", "mode"),
    ("bond_miimon", "mii-monitor-interval"),
    ("bond_xmit_hash_policy", "transmit-hash-policy"),
)


def _prefix(address: str, netmask: str) -> str:
    """``address/prefix`` from a dotted or colon-separated mask (ipaddress takes only v4)."""
    return f"{address}/{bin(int(ipaddress.ip_address(netmask))).count('1')}"


def _route(route: dict[str, Any]) -> dict[str, str]:
    return {"to": _prefix(route["network"], route["netmask"]), "via": route["gateway"]}


def _addressing(networks: list[dict[str, Any]], dns: list[str]) -> dict[str, Any]:
    """The addressing keys of one link, from its network_data.json entries in order."""
    body: dict[str, Any] = {}
    addresses: list[str] = []
    routes: list[dict[str, str]] = []
    kinds = {net["type"] for net in networks}
    for net in networks:
        kind = net["type"]
        if kind == "ipv4_dhcp":
            body["dhcp4"] = True
        elif kind == "ipv6_dhcp" or kind in _AUTO6:
            body["dhcp6"] = True
        if kind in ("ipv4", "ipv6"):
            addresses.append(_prefix(net["ip_address"], net["netmask"]))
            routes += [_route(r) for r in net.get("routes", ())]
    if "ipv6_dhcpv6-stateful" in kinds:
        body["accept-ra"] = True
    elif "ipv6" in kinds and not kinds & {*_AUTO6, "ipv6_dhcp"}:
        body["accept-ra"] = False
    if addresses:
        body["addresses"] = addresses
        if dns:
            body["nameservers"] = {"addresses": list(dns), "search": []}
    if routes:
        body["routes"] = routes
    return body


def network_config(network_data: dict[str, Any]) -> dict[str, Any]:
    """The ``network-config`` document (``version: 2``) meaning what ``network_data`` means."""
    dns = [s["address"] for s in network_data.get("services", ()) if s.get("type") == "dns"]
    by_link: dict[str, list[dict[str, Any]]] = {}
    for net in network_data.get("networks", ()):
        by_link.setdefault(net["link"], []).append(net)
    config: dict[str, Any] = {"version": 2}
    ethernets: dict[str, Any] = {}
    bonds: dict[str, Any] = {}
    vlans: dict[str, Any] = {}
    for link in network_data.get("links", ()):
        link_id = link["id"]
        body: dict[str, Any]
        if link["type"] == "bond":
            parameters = {v2: link[v1] for v1, v2 in _BOND_PARAMETERS if link.get(v1) is not None}
            body = {"interfaces": list(link["bond_links"])}
            body["macaddress"] = link["ethernet_mac_address"]
            if parameters:
                body["parameters"] = parameters
            target = bonds
        elif link["type"] == "vlan":
            body = {"id": link["vlan_id"], "link": link["vlan_link"]}
            body["macaddress"] = link["vlan_mac_address"]
            target = vlans
        else:
            body = {"match": {"macaddress": link["ethernet_mac_address"]}}
            target = ethernets
        if link.get("mtu") is not None:
            body["mtu"] = link["mtu"]
        body.update(_addressing(by_link.get(link_id, []), dns))
        target[link_id] = body
    for key, section in (("ethernets", ethernets), ("bonds", bonds), ("vlans", vlans)):
        if section:
            config[key] = section
    return config
