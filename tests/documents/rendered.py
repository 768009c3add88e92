"""Parsers for the network configuration files guests write: netplan, ENI, sysconfig, networkd.

Each parser reads the files a renderer wrote (relative path -> text) and returns what
every interface ends up with, in one shape (:class:`Seen`), so that tests compare it with
the intended result of a topology. Parsing is written by hand from each format's
documentation and stays deliberately literal: it reports what the files say, nothing more.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

Route = tuple[str, str]  # (destination CIDR, gateway)


@dataclass
class Seen:
    """One interface as a rendered configuration describes it."""

    static: set[str] = field(default_factory=set)  # address/prefix
    routes: set[Route] = field(default_factory=set)
    mtu: int | None = None
    dhcp4: bool = False
    dhcp6: bool = False
    v6_method: str | None = None  # ENI inet6 method, sysconfig flags, ...
    accept_ra: bool | None = None
    dns: list[str] = field(default_factory=list)
    mac: str | None = None
    vlan_id: int | None = None
    vlan_parent: str | None = None
    bond_members: list[str] = field(default_factory=list)
    bond_params: dict[str, str] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)


def _cidr(network: str, netmask: str) -> str:
    return str(ipaddress.ip_network(f"{network}/{netmask}", strict=False))


# -- netplan ---------------------------------------------------------------------------------


def netplan(files: dict[str, str]) -> dict[str, Seen]:
    doc: dict[str, Any] = yaml.safe_load(files["etc/netplan/50-cloud-init.yaml"])["network"]
    out: dict[str, Seen] = {}
    for section in ("ethernets", "bonds", "vlans"):
        for name, body in (doc.get(section) or {}).items():
            seen = Seen(
                static=set(body.get("addresses", [])),
                routes={(r["to"], r["via"]) for r in body.get("routes", [])},
                mtu=body.get("mtu"),
                dhcp4=bool(body.get("dhcp4")),
                dhcp6=bool(body.get("dhcp6")),
                accept_ra=body.get("accept-ra"),
                dns=list((body.get("nameservers") or {}).get("addresses", [])),
                mac=(body.get("match") or {}).get("macaddress") or body.get("macaddress"),
                vlan_id=body.get("id"),
                vlan_parent=body.get("link"),
                bond_members=list(body.get("interfaces", [])),
                bond_params={k: str(v) for k, v in (body.get("parameters") or {}).items()},
            )
            if "set-name" in body:
                seen.extra["set-name"] = body["set-name"]
            out[name] = seen
    return out


# -- ENI (/etc/network/interfaces) -------------------------------------------------------------

_ENI_ROUTE = re.compile(
    r"^post-up route add (?P<v6>-A inet6 )?(?:default|-net (?P<net>\S+)|(?P<net6>\S+)) "
    r"gw (?P<gw>\S+)"
)


def eni_stanzas(text: str) -> list[tuple[str, str, str, list[tuple[str, str]]]]:
    """(name, family, method, options) of every ``iface`` stanza, in order."""
    stanzas: list[tuple[str, str, str, list[tuple[str, str]]]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith("iface "):
            _, name, family, method = line.split()
            stanzas.append((name, family, method, []))
        elif line.startswith((" ", "\t")) and stanzas:
            key, _, value = line.strip().partition(" ")
            stanzas[-1][3].append((key, value))
    return stanzas


def eni(files: dict[str, str]) -> tuple[dict[str, Seen], list[str]]:
    """Interfaces, and the global DNS servers (cloud-init puts them on ``lo``)."""
    out: dict[str, Seen] = {}
    global_dns: list[str] = []
    for name, family, method, options in eni_stanzas(
        files["etc/network/interfaces.d/50-cloud-init"]
    ):
        if name == "lo":
            for key, value in options:
                if key == "dns-nameservers":
                    global_dns += value.split()
            continue
        seen = out.setdefault(name, Seen())
        if family == "inet" and method == "dhcp":
            seen.dhcp4 = True
        if family == "inet6":
            seen.v6_method = method
        for key, value in options:
            if key == "address":
                seen.static.add(value)
            elif key == "mtu":
                seen.mtu = int(value)
            elif key == "hwaddress":
                seen.mac = value
            elif key == "vlan-raw-device":
                seen.vlan_parent = value
            elif key == "vlan_id":
                seen.vlan_id = int(value)
            elif key == "bond-master":
                out.setdefault(value, Seen()).bond_members.append(name)
            elif key.startswith("bond_") or key == "bond-slaves":
                seen.bond_params[key] = value
            elif key == "dns-nameservers":
                seen.dns += value.split()
            elif key == "post-up":
                match = _ENI_ROUTE.match(f"post-up {value}")
                if match is None:
                    seen.extra[f"post-up {value}"] = ""
                    continue
                to = match["net"] or match["net6"] or ("::/0" if match["v6"] else "0.0.0.0/0")
                seen.routes.add((to, match["gw"]))
    udev = files.get("etc/udev/rules.d/70-persistent-net.rules", "")
    for mac, name in re.findall(r'ATTR\{address\}=="([^"]+)", NAME="([^"]+)"', udev):
        if name in out:
            out[name].mac = mac
    return out, global_dns


# -- sysconfig (ifcfg-*, route-*, route6-*) ------------------------------------------------------


def _shell_vars(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        if line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip('"')
    return values


def sysconfig(files: dict[str, str]) -> tuple[dict[str, Seen], list[str]]:
    """Interfaces, and the DNS servers of resolv.conf."""
    base = "etc/sysconfig/network-scripts/"
    out: dict[str, Seen] = {}
    for path, text in files.items():
        if not path.startswith(base + "ifcfg-"):
            continue
        name = path.removeprefix(base + "ifcfg-")
        v = _shell_vars(text)
        seen = out.setdefault(name, Seen())
        seen.extra = v
        for key, value in v.items():
            m = re.fullmatch(r"IPADDR(\d*)", key)
            if m:
                prefix = ipaddress.ip_network(f"0.0.0.0/{v[f'NETMASK{m[1]}']}").prefixlen
                seen.static.add(f"{value}/{prefix}")
        for address in [v.get("IPV6ADDR", ""), *v.get("IPV6ADDR_SECONDARIES", "").split()]:
            if address:
                seen.static.add(address)
        if "GATEWAY" in v:
            seen.routes.add(("0.0.0.0/0", v["GATEWAY"]))
        if "IPV6_DEFAULTGW" in v:
            seen.routes.add(("::/0", v["IPV6_DEFAULTGW"].split("%")[0]))
        seen.mtu = int(v["MTU"]) if "MTU" in v else None
        seen.dhcp4 = v.get("BOOTPROTO") == "dhcp"
        seen.dhcp6 = v.get("DHCPV6C") == "yes"
        seen.mac = v.get("HWADDR") or v.get("MACADDR")
        if v.get("VLAN") == "yes":
            seen.vlan_parent = v.get("PHYSDEV")
            seen.vlan_id = int(name.rpartition(".")[2])
        if "MASTER" in v:
            out.setdefault(v["MASTER"], Seen()).bond_members.append(name)
        if "BONDING_OPTS" in v:
            seen.bond_params = dict(opt.split("=", 1) for opt in v["BONDING_OPTS"].split())
        routes = _shell_vars(files.get(f"{base}route-{name}", ""))
        for key, value in routes.items():
            m = re.fullmatch(r"ADDRESS(\d+)", key)
            if m:
                seen.routes.add((_cidr(value, routes[f"NETMASK{m[1]}"]), routes[f"GATEWAY{m[1]}"]))
        for line in files.get(f"{base}route6-{name}", "").splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[1] == "via":
                seen.routes.add((parts[0], parts[2]))
    dns = re.findall(r"^nameserver (\S+)", files.get("etc/resolv.conf", ""), re.M)
    return out, dns


# -- systemd-networkd ------------------------------------------------------------------------------


def unit_sections(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """The ``[Section]`` blocks of a systemd unit, repeated sections kept apart."""
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            sections.append((line[1:-1], []))
        elif "=" in line and sections:
            key, _, value = line.partition("=")
            sections[-1][1].append((key.strip(), value.strip()))
    return sections


def networkd(files: dict[str, str]) -> tuple[dict[str, Seen], list[str]]:
    """Interfaces by ``[Match] Name``, and the names of any ``.netdev`` files."""
    out: dict[str, Seen] = {}
    netdevs = [p for p in files if p.endswith(".netdev")]
    for path, text in files.items():
        if not path.endswith(".network"):
            continue
        seen = Seen()
        name = ""
        for section, pairs in unit_sections(text):
            values = dict(pairs)
            if section == "Match":
                name = values.get("Name", "")
                seen.mac = values.get("MACAddress")
            elif section == "Address":
                seen.static.add(values["Address"])
            elif section == "Route":
                seen.routes.add((values["Destination"], values["Gateway"]))
            elif section == "Link" and "MTUBytes" in values:
                seen.mtu = int(values["MTUBytes"])
            elif section == "Network":
                dhcp = values.get("DHCP", "no")
                seen.dhcp4 = dhcp in ("ipv4", "yes")
                seen.dhcp6 = dhcp in ("ipv6", "yes")
                seen.dns = " ".join(v for k, v in pairs if k == "DNS").split()
                seen.extra = {k: v for k, v in pairs if k not in ("DHCP", "DNS")}
        out[name] = seen
    return out, netdevs
