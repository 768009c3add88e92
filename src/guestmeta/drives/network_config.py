"""network-config (version 2) for a NoCloud seed, written from network_data.json.

A NoCloud seed cannot carry network_data.json, so the same links and networks are said
again in the version 2 (netplan) vocabulary that cloud-init reads from ``network-config``.
It is made from the network_data.json document of the same tree, so the two cannot tell
a guest different things, and it says what cloud-init itself makes of that document:

- a ``phy`` (or any exposed VIF type) link is an ``ethernets`` entry matched by its MAC,
  keyed by its link id, without ``set-name``: cloud-init then keeps the guest's own NIC
  name (it names a matched entry after the NIC with that MAC), as it does for
  network_data.json, whose links carry no name. Except a NIC that a VLAN or a bond names
  as its parent or member: it gets ``set-name`` (its link id, ``tap…``, as Nova names the
  link), because cloud-init 22.4 renames the entry to the guest's NIC name but leaves the
  VLAN's ``link`` and the bond's ``interfaces`` as written, so with its ``eni`` renderer
  ifupdown looks for a device of the key's name and creates no VLAN (seen in a real
  Debian 12 guest booted from our drive);
- a ``bond`` link is a ``bonds`` entry named by its id (the guest's bond device name), with
  its members, MAC, MTU and mode, MII interval and hash policy;
- a ``vlan`` link is a ``vlans`` entry on its parent, with its MAC, named ``vlan<id>``
  (its link id when two VLANs share an id): the name is the guest's device name, and
  with cloud-init's ``eni`` renderer (the one that keeps VLANs on Debian 12) ifupdown
  creates a VLAN only for a name it can read the id from (``vlan30``, ``eth0.30``), and
  the parent's name is the guest's to choose. cloud-init 22.4 ignores a version 2 VLAN's
  ``macaddress``, so on Debian 12 a sub-port with a MAC of its own keeps its parent's
  under NoCloud (network_data.json's ``vlan_mac_address`` is applied);
- static entries give ``addresses`` (``address/prefix``) and their ``routes``, except
  that an IPv6 default route is ``gateway6``: cloud-init 22.4 reads ``to: ::/0`` as
  ``::/64`` (a zero prefix is taken for none) and installs no default route; a DHCP entry
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


def _is_default6(route: dict[str, str]) -> bool:
    return route["to"] == "::/0"


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
    default6 = [r for r in routes if _is_default6(r)]
    if default6:
        body["gateway6"] = default6[0]["via"]
        routes.remove(default6[0])
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
    links = network_data.get("links", ())
    vlan_ids = [link["vlan_id"] for link in links if link["type"] == "vlan"]
    named = {link["vlan_link"] for link in links if link["type"] == "vlan"}
    named.update(
        member for link in links if link["type"] == "bond" for member in link["bond_links"]
    )
    for link in links:
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
            if link_id in named:
                body["set-name"] = link_id
            target = ethernets
        if link.get("mtu") is not None:
            body["mtu"] = link["mtu"]
        body.update(_addressing(by_link.get(link_id, []), dns))
        name = link_id
        if link["type"] == "vlan" and vlan_ids.count(link["vlan_id"]) == 1:
            name = f"vlan{link['vlan_id']}"
        target[name] = body
    for key, section in (("ethernets", ethernets), ("bonds", bonds), ("vlans", vlans)):
        if section:
            config[key] = section
    return config
