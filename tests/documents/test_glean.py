"""Every topology of the matrix through glean (1.25) in --noop mode: debian, centos, networkd.

glean writes one distribution's own files from network_data.json; the tests parse them and
compare them with what the topology intended. glean names a physical NIC as the kernel
does (the fake ``/sys/class/net`` here says ``ethN``), a VLAN ``PARENT.ID`` (debian,
centos) or ``PARENT-vlanID`` (networkd), and a bond after its link id.

What glean cannot express, read from its source and asserted as such below:

- MTU: glean never reads a link's ``mtu``, on any distro;
- debian skips ``ipv6_slaac`` and both DHCPv6 types (no ``inet6`` stanza, so their
  routes go too), and writes no MAC on a static VLAN;
- centos writes one ``IPADDR`` per interface, each IPv4 entry rewriting the file: of two
  IPv4 addresses on one interface only the last survives, without the default route
  carried by the first; the DHCPv6 types are "unhandled" (no IPv6 at all); a bond gets
  no ``BONDING_OPTS`` (mode, miimon and hash policy are lost); an interface with only
  IPv6 makes glean fail (it appends IPv6 to an ifcfg file that IPv4 never created);
- networkd ignores the address of SLAAC and DHCPv6 entries (the guest forms it), checks
  for ``ipv6_dhcpv6_stateful`` (underscore) and so never turns DHCPv6 on for the
  format's ``ipv6_dhcpv6-stateful``, copies ``bond_miimon`` (milliseconds) into
  ``MIIMonitorSec`` (seconds), and writes a ``.netdev`` without ``Kind`` for every NIC;
- DNS goes to ``/etc/resolv.conf`` from the top-level services on every distro
  (networkd also lists each entry's own servers, and DHCP entries carry none).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest

from guestmeta.documents import meta_data, network_data
from tests.consumers import ConsumerError
from tests.consumers.glean import DISTROS, run_glean, run_glean_many
from tests.documents import rendered
from tests.documents.topologies import BY_NAME, CASES, DEFAULT4, DEFAULT6, Case, Interface

pytestmark = pytest.mark.consumers("glean")

IDS = [case.name for case in CASES]
SEED = b"\x00" * 16  # meta_data's random seed; glean does not read it
IFNAMSIZ = 16  # Linux interface names: 15 bytes and the terminating NUL
Gleaned = dict[tuple[str, str], dict[str, str] | ConsumerError]


def _document(case: Case) -> dict[str, Any]:
    document = network_data(case.topology, case.server_id)
    assert document is not None
    return document


@pytest.fixture(scope="module")
def gleaned() -> Gleaned:
    """glean's files for every topology and distro, from one glean interpreter."""
    keys = [(case.name, distro) for case in CASES for distro in DISTROS]
    jobs = [
        (
            _document(BY_NAME[name]),
            meta_data(BY_NAME[name].topology, BY_NAME[name].server_id, random_seed=SEED),
            BY_NAME[name].macs,
            distro,
        )
        for name, distro in keys
    ]
    return dict(zip(keys, run_glean_many(jobs), strict=True))


def _files(gleaned: Gleaned, case: Case, distro: str) -> dict[str, str]:
    result = gleaned[case.name, distro]
    if isinstance(result, ConsumerError):
        raise result
    return result


def glean_names(case: Case, distro: str) -> dict[str, str]:
    """Intended interface name -> the name glean gives that interface."""
    bonds = {
        link["ethernet_mac_address"]: link["id"]
        for link in _document(case)["links"]
        if link["type"] == "bond"
    }
    names: dict[str, str] = {}
    for want in case.interfaces:
        if want.kind == "ethernet":
            names[want.name] = want.name
        elif want.kind == "bond":
            names[want.name] = bonds[want.mac]
    for want in case.interfaces:
        if want.kind == "vlan":
            assert want.vlan_parent is not None
            parent = names[want.vlan_parent]
            sep = "-vlan" if distro == "networkd" else "."
            names[want.name] = f"{parent}{sep}{want.vlan_id}"
    return names


def _v4(addresses: tuple[str, ...]) -> list[str]:
    return [a for a in addresses if ":" not in a]


def _v6(addresses: tuple[str, ...]) -> list[str]:
    return [a for a in addresses if ":" in a]


def _routes(want: Interface, *, v4: bool = True, v6: bool = True) -> set[tuple[str, str]]:
    return {(r.to, r.via) for r in want.routes if (v6 if ":" in r.via else v4)}


def _resolv(files: dict[str, str]) -> list[str]:
    return re.findall(r"^nameserver (\S+)$", files.get("/etc/resolv.conf", ""), re.M)


def _bond_of(case: Case, name: str) -> Interface | None:
    return next((i for i in case.interfaces if name in i.bond_members), None)


# -- debian: /etc/network/interfaces.d/*.cfg ------------------------------------------------

_V4_ROUTE = re.compile(r"^route add -net (\S+) netmask (\S+) gw (\S+) \|\| true$")
_V6_ROUTE = re.compile(r"^ip -6 route add (\S+) via (\S+) dev (\S+) \|\| true$")


def parse_debian(files: dict[str, str]) -> dict[str, rendered.Seen]:
    """Interfaces of glean's ifupdown stanzas; ``extra`` holds the ``inet`` method."""
    out: dict[str, rendered.Seen] = {}
    for path, text in files.items():
        if not path.startswith("/etc/network/interfaces.d/"):
            continue
        for name, family, method, options in rendered.eni_stanzas(text):
            seen = out.setdefault(name, rendered.Seen())
            if family == "inet":
                seen.extra["inet"] = method
                seen.dhcp4 = method == "dhcp"
            else:
                seen.v6_method = method
            address, prefix = None, None
            ups, downs = [], []
            for key, value in options:
                if key == "address":
                    address = value
                elif key == "netmask":
                    v4 = family == "inet"
                    prefix = ipaddress.ip_network(f"0.0.0.0/{value}").prefixlen if v4 else value
                elif key == "gateway":
                    seen.routes.add((DEFAULT4 if family == "inet" else DEFAULT6, value))
                elif key == "up":
                    ups.append(value)
                elif key == "down":
                    downs.append(value)
                elif key == "mtu":
                    seen.mtu = int(value)
                elif key in ("hwaddress", "hw-mac-address"):
                    seen.mac = value
                elif key == "vlan-raw-device":
                    seen.vlan_parent = value
                elif key == "bond-master":
                    out.setdefault(value, rendered.Seen()).bond_members.append(name)
                elif key.startswith("bond-"):
                    seen.bond_params[key] = value
                elif key == "post-up" and value.startswith(f"ifenslave {name} "):
                    seen.extra["ifenslave"] = value.removeprefix(f"ifenslave {name} ")
                elif key == "pre-down" and value.startswith(f"ifenslave -d {name} "):
                    seen.extra["ifenslave -d"] = value.removeprefix(f"ifenslave -d {name} ")
                else:
                    seen.extra[key] = value
            if address is not None:
                seen.static.add(f"{address}/{prefix}")
            for line in ups:
                if m := _V4_ROUTE.match(line):
                    net, mask, via = m.groups()
                    seen.routes.add((str(ipaddress.ip_network(f"{net}/{mask}")), via))
                elif m := _V6_ROUTE.match(line):
                    assert m[3] == name
                    seen.routes.add((m[1], m[2]))
                else:
                    seen.extra[f"up {line}"] = ""
            # Every route added on up is removed on down, the same route.
            assert [d.replace(" del ", " add ", 1) for d in downs] == ups
    return out


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_debian(case: Case, gleaned: Gleaned) -> None:
    files = _files(gleaned, case, "debian")
    names = glean_names(case, "debian")
    assert "source /etc/network/interfaces.d/*.cfg" in files["/etc/network/interfaces"]
    seen = parse_debian(files)
    # Exactly the intended interfaces: none left over for glean's DHCP fallback.
    assert set(seen) == set(names.values())
    assert _resolv(files) == list(case.dns)
    for want in case.interfaces:
        name = names[want.name]
        got = seen[name]
        assert want.mtu is not None and got.mtu is None, name  # glean has no MTU support
        assert not {k: v for k, v in got.extra.items() if k.startswith("up ")}, got.extra
        if _bond_of(case, want.name) is not None:
            assert got.extra["inet"] == "manual"
            assert not got.static and not got.routes and got.v6_method is None
            continue
        # SLAAC and DHCPv6 entries are skipped: only static addresses, and only the routes
        # of the families configured statically.
        assert got.static == set(want.static), name
        assert got.routes == _routes(want, v6=want.ipv6_mode is None), name
        assert got.dhcp4 is want.dhcp4, name
        assert got.extra.get("inet") == (
            "dhcp" if want.dhcp4 else "static" if _v4(want.static) else None
        )
        assert got.v6_method == ("static" if _v6(want.static) else None), name
        if want.kind == "vlan":
            assert name == f"{names[want.vlan_parent or '']}.{want.vlan_id}"
            assert got.vlan_parent == names[want.vlan_parent or ""]
            assert got.mac is None  # the sub-port's MAC is not written for a static VLAN
        if want.kind == "bond":
            members = " ".join(names[m] for m in want.bond_members)
            assert got.mac == want.mac
            assert got.bond_members == [names[m] for m in want.bond_members]
            assert got.extra["ifenslave"] == got.extra["ifenslave -d"] == members
            assert got.bond_params == {
                "bond-mode": want.bond_mode,
                "bond-miimon": str(want.bond_miimon),
                "bond-lacp-rate": "slow",  # glean's default: the format has no LACP rate
                "bond-xmit_hash_policy": want.bond_hash_policy,
                "bond-slaves": "none",
            }


# -- centos: ifcfg-*, route-*, route6-* -------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_centos(case: Case, gleaned: Gleaned) -> None:
    result = gleaned[case.name, "centos"]
    if any(
        (_v6(i.static) or i.ipv6_mode == "slaac") and not (_v4(i.static) or i.dhcp4)
        for i in case.interfaces
    ):
        # IPv6 only: glean appends the IPv6 settings to the ifcfg file its IPv4 pass wrote,
        # and asserts that file exists; with no IPv4 it does not, and glean fails.
        assert isinstance(result, ConsumerError)
        assert "_write_rh_v6_interface" in result.stderr
        assert "AssertionError" in result.stderr
        return
    files = _files(gleaned, case, "centos")
    names = glean_names(case, "centos")
    seen, dns = rendered.sysconfig({path.lstrip("/"): text for path, text in files.items()})
    assert set(seen) == set(names.values())
    assert dns == list(case.dns)
    for want in case.interfaces:
        name = names[want.name]
        got = seen[name]
        assert want.mtu is not None and got.mtu is None, name  # glean has no MTU support
        assert got.mac == want.mac, name
        assert got.extra["DEVICE"] == name
        bond = _bond_of(case, want.name)
        if bond is not None:
            assert got.extra["BOOTPROTO"] == "none"
            assert (got.extra["SLAVE"], got.extra["MASTER"]) == ("yes", names[bond.name])
            assert not got.static and not got.routes
            continue
        v4 = _v4(want.static)
        if len(v4) > 1:
            # One IPADDR per file, rewritten by each IPv4 entry: the last address wins, and
            # the default route, carried by the first entry, is gone with it.
            assert _v4(tuple(got.static)) == [v4[-1]], name
            v4_routes: set[tuple[str, str]] = set()
        else:
            assert _v4(tuple(got.static)) == v4, name
            v4_routes = _routes(want, v6=False)
        dhcpv6 = want.ipv6_mode in ("dhcpv6-stateful", "dhcpv6-stateless")
        # The DHCPv6 types are unhandled: neither their address nor their routes appear.
        v6_routes = set() if dhcpv6 else _routes(want, v4=False)
        assert got.routes == v4_routes | v6_routes, name
        assert set(_v6(tuple(got.static))) == set(_v6(want.static)), name
        assert got.dhcp4 is want.dhcp4, name
        if want.ipv6_mode == "slaac":
            assert got.extra["IPV6INIT"] == "yes"
            assert got.extra["IPV6_AUTOCONF"] == "yes"
            assert "IPV6ADDR" not in got.extra  # the guest forms it from the prefix
        elif _v6(want.static):
            assert (got.extra["IPV6INIT"], got.extra["IPV6_AUTOCONF"]) == ("yes", "no")
        else:
            assert "IPV6INIT" not in got.extra, name
        if want.kind == "vlan":
            assert name == f"{names[want.vlan_parent or '']}.{want.vlan_id}"
            assert got.extra["VLAN"] == "yes"
            assert got.vlan_id == want.vlan_id
        if want.kind == "bond":
            assert got.bond_members == [names[m] for m in want.bond_members]
            # No BONDING_OPTS, no TYPE=Bond: mode, miimon and hash policy are lost.
            assert "BONDING_OPTS" not in got.extra and got.extra["TYPE"] == "Ethernet"


# -- networkd: .network and .netdev files -----------------------------------------------------


def parse_networkd(
    files: dict[str, str],
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(.network by file stem, .netdev by file stem), each section's pairs collected."""
    networks: dict[str, dict[str, Any]] = {}
    netdevs: dict[str, dict[str, Any]] = {}
    for path, text in files.items():
        stem, _, suffix = path.rpartition("/")[2].rpartition(".")
        if suffix not in ("network", "netdev"):
            continue
        unit: dict[str, Any] = {"addresses": set(), "routes": set(), "lines": []}
        for section, pairs in rendered.unit_sections(text):
            values = dict(pairs)
            if section == "Address":
                unit["addresses"].add(values["Address"])
            elif section == "Route":
                unit["routes"].add((values["Destination"], values["Gateway"]))
            else:
                unit["lines"] += [(section, key, value) for key, value in pairs]
        (networks if suffix == "network" else netdevs)[stem] = unit
    return networks, netdevs


def _values(unit: dict[str, Any], section: str, key: str) -> list[str]:
    return [v for s, k, v in unit["lines"] if (s, k) == (section, key)]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_networkd(case: Case, gleaned: Gleaned) -> None:
    files = _files(gleaned, case, "networkd")
    names = glean_names(case, "networkd")
    networks, netdevs = parse_networkd(files)
    assert _resolv(files) == list(case.dns)
    kinds = {stem: _values(unit, "NetDev", "Kind") for stem, unit in netdevs.items()}
    wanted_kinds = {names[i.name]: [i.kind] for i in case.interfaces if i.kind in ("vlan", "bond")}
    # Every NIC also gets a .netdev without Kind (glean tests `'bond_mode' or ...`).
    assert kinds == {**{names[i.name]: [] for i in case.interfaces}, **wanted_kinds}
    for want in case.interfaces:
        name = names[want.name]
        net = networks[name]
        assert _values(net, "Match", "Name") == [name]
        assert _values(net, "Match", "MACAddress") == [want.mac]
        assert _values(netdevs[name], "NetDev", "MACAddress") == [want.mac]
        assert want.mtu is not None and not [s for s, _, _ in net["lines"] if s == "Link"]
        bond = _bond_of(case, want.name)
        if bond is not None:
            assert _values(net, "Network", "Bond") == [names[bond.name]]
            assert not net["addresses"] and not net["routes"]
            continue
        # Only static entries give addresses; SLAAC and DHCPv6 entries keep their routes.
        assert net["addresses"] == set(want.static), name
        assert net["routes"] == _routes(want), name
        assert _values(net, "Network", "DHCP") == (["ipv4"] if want.dhcp4 else []), name
        accept_ra = want.ipv6_mode in ("slaac", "dhcpv6-stateless")
        assert _values(net, "Network", "IPv6AcceptRA") == ["yes" if accept_ra else "no"]
        # Each entry's own servers; a DHCP entry carries none (its server hands them out).
        dns = set() if want.dhcp4 else set(want.dns)
        assert set(_values(net, "Network", "DNS")) == dns, name
        if want.kind == "vlan":
            assert _values(netdevs[name], "VLAN", "Id") == [str(want.vlan_id)]
            parent = names[want.vlan_parent or ""]
            if parent in {names[i.name] for i in case.interfaces if i.kind == "ethernet"}:
                assert name in _values(networks[parent], "Network", "VLAN")
            # A VLAN on a bond: see test_bond_vlan_names_fit_the_kernel below.
        if want.kind == "bond":
            assert sorted(_values(netdevs[name], "Bond", "Mode")) == [want.bond_mode]
            assert _values(netdevs[name], "Bond", "TransmitHashPolicy") == [want.bond_hash_policy]
            # bond_miimon is in milliseconds; glean writes the number as seconds.
            assert _values(netdevs[name], "Bond", "MIIMonitorSec") == [str(want.bond_miimon)]
            members = [
                n for n, unit in networks.items() if name in _values(unit, "Network", "Bond")
            ]
            assert sorted(members) == sorted(names[m] for m in want.bond_members)


# -- what glean makes of a bond's name ------------------------------------------------------


@pytest.mark.parametrize("distro", DISTROS)
def test_bond_vlan_names_fit_the_kernel(distro: str, gleaned: Gleaned) -> None:
    case = BY_NAME["bond_vlan"]
    names = glean_names(case, distro)
    for name in names.values():
        assert len(name) < IFNAMSIZ, name
    if distro == "networkd":
        networks, _ = parse_networkd(_files(gleaned, case, distro))
        bond, vlan = names["bond0"], names["bond0.200"]
        assert _values(networks[bond], "Network", "VLAN") == [vlan]


def test_batch_writes_what_one_run_writes(gleaned: Gleaned) -> None:
    """The matrix uses one glean interpreter for speed; a run of its own agrees."""
    case = BY_NAME["trunk"]
    meta = meta_data(case.topology, case.server_id, random_seed=SEED)
    assert run_glean(_document(case), meta, case.macs, "networkd") == gleaned[case.name, "networkd"]
