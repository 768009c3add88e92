"""Malformed apply files: each is refused with its exact lines, and the store stays as it was.

Every case is applied on top of ``tests/data/rejects/base.yaml`` (two networks, three subnets,
three ports, a floating IP, a keypair and two servers), so "unchanged" means the base is still
all there at the same revision, not merely that an empty store is still empty. The table runs
on SQLite and on PostgreSQL through the ``store`` fixture.
"""

from __future__ import annotations

import base64
import textwrap
from dataclasses import dataclass
from typing import Any

import pytest

from guestmeta.apply import ApplyError, SourceError, load_document, plan_apply
from guestmeta.store import Store
from tests.conftest import DATA

BASE = DATA / "rejects" / "base.yaml"
USER_DATA_LIMIT = 65536  # bytes, Nova's limit for decoded user data


@dataclass(frozen=True)
class Case:
    files: tuple[tuple[str, str], ...]  # (path as named in messages, text)
    lines: tuple[str, ...]
    error: type[Exception] = ApplyError


def _text(text: str) -> str:
    """A case's file as written in this module: dedented, starting at its first line."""
    return textwrap.dedent(text).lstrip("\n")


def bad(
    case_id: str,
    text: str,
    *lines: str,
    path: str = "bad.yaml",
    error: type[Exception] = ApplyError,
) -> Any:
    """One malformed file and the exact lines it must produce."""
    return pytest.param(Case(((path, _text(text)),), lines, error), id=case_id)


def bad_files(case_id: str, files: dict[str, str], *lines: str) -> Any:
    """Several files applied together and the exact lines they must produce."""
    texts = tuple((path, _text(text)) for path, text in files.items())
    return pytest.param(Case(texts, lines), id=case_id)


def b64(size: int) -> str:
    return base64.b64encode(b"x" * size).decode()


def apply_base(store: Store) -> None:
    doc = load_document("base.yaml", text=BASE.read_text())
    store.change(lambda current: plan_apply(current, [doc]))


def attempt(store: Store, files: tuple[tuple[str, str], ...]) -> None:
    """Load and apply ``files`` the way ``guestmeta apply`` does: all files, then one change."""
    docs = [load_document(path, text=text) for path, text in files]
    store.change(lambda current: plan_apply(current, docs))


CASES = [
    # -- MAC addresses ------------------------------------------------------------------------
    bad(
        "mac-malformed",
        """
        ports:
          - {name: p1, network_id: lan, mac_address: "fa:16:3e:zz:00:01"}
        """,
        "bad.yaml: ports[0] (p1): mac_address: 'fa:16:3e:zz:00:01' is not a MAC address "
        "(expected six hex pairs)",
    ),
    bad(
        "mac-multicast",
        """
        ports:
          - {name: p1, network_id: lan, mac_address: "01:00:5e:00:00:01"}
        """,
        "bad.yaml: ports[0] (p1): mac_address: '01:00:5e:00:00:01' is a multicast MAC address",
    ),
    bad(
        "mac-all-zero",
        """
        ports:
          - {name: p1, network_id: lan, mac_address: "00:00:00:00:00:00"}
        """,
        "bad.yaml: ports[0] (p1): mac_address: '00:00:00:00:00:00' is the all-zero MAC address",
    ),
    bad(
        "mac-duplicate-of-stored-port",  # another spelling of port-web's MAC
        """
        ports:
          - {name: p1, network_id: lan, mac_address: "FA-16-3E-00-00-01"}
        """,
        "bad.yaml: ports[0] (p1): mac_address: fa:16:3e:00:00:01 is already used by port "
        "port-web on the same network",
    ),
    bad(
        "mac-duplicate-within-file",
        """
        ports:
          - {id: port-a, name: a, network_id: lan, mac_address: "fa:16:3e:00:00:aa"}
          - {id: port-b, name: b, network_id: lan, mac_address: "fa:16:3e:00:00:aa"}
        """,
        "bad.yaml: ports[1] (b): mac_address: fa:16:3e:00:00:aa is already used by port port-a "
        "on the same network",
    ),
    bad(
        # Without ids the first port's id is generated: the line must name it as the file does,
        # not by an id the operator has never seen.
        "mac-duplicate-within-file-without-ids",
        """
        ports:
          - {name: a, network_id: lan, mac_address: "fa:16:3e:00:00:aa"}
          - {name: b, network_id: lan, mac_address: "fa:16:3e:00:00:aa"}
        """,
        "bad.yaml: ports[1] (b): mac_address: fa:16:3e:00:00:aa is already used by "
        "bad.yaml: ports[0] (a) on the same network",
    ),
    # -- fixed addresses ----------------------------------------------------------------------
    bad(
        "fixed-ip-outside-its-subnet",
        """
        ports:
          - name: p1
            network_id: lan
            fixed_ips: [{subnet_id: lan-v4, ip_address: 10.0.0.5}]
        """,
        "bad.yaml: ports[0] (p1): fixed_ips[0].ip_address: 10.0.0.5 is outside subnet "
        "sub-lan-v4 (192.168.50.0/24)",
    ),
    bad(
        "fixed-ip-v4-on-v6-subnet",
        """
        ports:
          - name: p1
            network_id: lan
            fixed_ips: [{subnet_id: lan-v6, ip_address: 192.168.50.30}]
        """,
        "bad.yaml: ports[0] (p1): fixed_ips[0].ip_address: 192.168.50.30 is outside subnet "
        "sub-lan-v6 (2001:db8:50::/64)",
    ),
    bad(
        "fixed-ip-in-no-subnet-of-network",
        """
        ports:
          - {name: p1, network_id: lan, fixed_ips: [{ip_address: 10.0.0.5}]}
        """,
        "bad.yaml: ports[0] (p1): fixed_ips[0].ip_address: 10.0.0.5 is in no subnet of network "
        "net-lan",
    ),
    bad(
        "fixed-ip-subnet-of-another-network",
        """
        ports:
          - name: p1
            network_id: public
            fixed_ips: [{subnet_id: lan-v4, ip_address: 192.168.50.30}]
        """,
        "bad.yaml: ports[0] (p1): fixed_ips[0].subnet_id: subnet sub-lan-v4 is not on the "
        "port's network net-public",
    ),
    bad(
        "fixed-ip-duplicate-within-file",
        """
        ports:
          - id: port-a
            name: a
            network_id: lan
            fixed_ips: [{subnet_id: lan-v4, ip_address: 192.168.50.20}]
          - id: port-b
            name: b
            network_id: lan
            fixed_ips: [{subnet_id: lan-v4, ip_address: 192.168.50.20}]
        """,
        "bad.yaml: ports[1] (b): fixed_ips[0].ip_address: 192.168.50.20 is already used by port "
        "port-a in subnet sub-lan-v4",
    ),
    bad(
        "fixed-ip-duplicate-within-file-without-ids",
        """
        ports:
          - {name: a, network_id: lan, fixed_ips: [{subnet_id: lan-v4, ip_address: 192.168.50.20}]}
          - {name: b, network_id: lan, fixed_ips: [{subnet_id: lan-v4, ip_address: 192.168.50.20}]}
        """,
        "bad.yaml: ports[1] (b): fixed_ips[0].ip_address: 192.168.50.20 is already used by "
        "bad.yaml: ports[0] (a) in subnet sub-lan-v4",
    ),
    bad(
        "fixed-ip-duplicate-of-stored-address",
        """
        ports:
          - name: p1
            network_id: lan
            fixed_ips: [{subnet_id: lan-v4, ip_address: 192.168.50.10}]
        """,
        "bad.yaml: ports[0] (p1): fixed_ips[0].ip_address: 192.168.50.10 is already used by port "
        "port-web in subnet sub-lan-v4",
    ),
    bad(
        "fixed-ip-duplicate-of-stored-v6-spelled-differently",
        """
        ports:
          - name: p1
            network_id: lan
            fixed_ips: [{subnet_id: lan-v6, ip_address: "2001:DB8:50:0:0::10"}]
        """,
        "bad.yaml: ports[0] (p1): fixed_ips[0].ip_address: 2001:db8:50::10 is already used by "
        "port port-web in subnet sub-lan-v6",
    ),
    bad(
        "fixed-ip-v4-network-address",
        """
        ports:
          - name: p1
            network_id: lan
            fixed_ips: [{subnet_id: lan-v4, ip_address: 192.168.50.0}]
        """,
        "bad.yaml: ports[0] (p1): fixed_ips[0].ip_address: 192.168.50.0 is the subnet's network "
        "address",
    ),
    bad(
        "fixed-ip-v4-broadcast-address",
        """
        ports:
          - name: p1
            network_id: lan
            fixed_ips: [{subnet_id: lan-v4, ip_address: 192.168.50.255}]
        """,
        "bad.yaml: ports[0] (p1): fixed_ips[0].ip_address: 192.168.50.255 is the subnet's "
        "broadcast address",
    ),
    bad(
        "fixed-ip-is-the-gateway",
        """
        ports:
          - name: p1
            network_id: lan
            fixed_ips: [{subnet_id: lan-v4, ip_address: 192.168.50.1}]
        """,
        "bad.yaml: ports[0] (p1): fixed_ips[0].ip_address: 192.168.50.1 is the subnet's gateway",
    ),
    # -- subnets ------------------------------------------------------------------------------
    bad(
        "gateway-outside-cidr",
        """
        subnets:
          - {name: s1, network_id: lan, cidr: 10.1.0.0/24, gateway_ip: 10.2.0.1}
        """,
        "bad.yaml: subnets[0] (s1): gateway_ip: 10.2.0.1 is outside 10.1.0.0/24",
    ),
    bad(
        # Neutron refuses this too (ipam utils: check_gateway_invalid_in_subnet).
        "gateway-is-v4-network-address",
        """
        subnets:
          - {name: s1, network_id: lan, cidr: 10.1.0.0/24, gateway_ip: 10.1.0.0}
        """,
        "bad.yaml: subnets[0] (s1): gateway_ip: 10.1.0.0 is the subnet's network address",
    ),
    bad(
        "cidr-with-host-bits",
        """
        subnets:
          - {name: s1, network_id: lan, cidr: 10.1.0.1/24}
        """,
        "bad.yaml: subnets[0] (s1): cidr: '10.1.0.1/24' has host bits set",
    ),
    bad(
        # The new subnet is the one at fault, whatever its id sorts like.
        "cidr-overlaps-stored-subnet",
        """
        subnets:
          - {id: sub-a, name: s1, network_id: lan, cidr: 192.168.50.0/25}
        """,
        "bad.yaml: subnets[0] (s1): cidr: 192.168.50.0/25 overlaps subnet sub-lan-v4 "
        "(192.168.50.0/24) on the same network",
    ),
    # -- VLAN ids -----------------------------------------------------------------------------
    bad(
        "trunk-sub-port-vlan-0",
        """
        ports:
          - {name: child, network_id: lan}
          - name: parent
            network_id: lan
            trunk_details:
              sub_ports: [{port_id: child, segmentation_type: vlan, segmentation_id: 0}]
        """,
        "bad.yaml: ports[1] (parent): trunk_details.sub_ports[0].segmentation_id: VLAN id 0 is "
        "outside 1-4094",
    ),
    bad(
        "trunk-sub-port-vlan-4095",
        """
        ports:
          - {name: child, network_id: lan}
          - name: parent
            network_id: lan
            trunk_details:
              sub_ports: [{port_id: child, segmentation_type: vlan, segmentation_id: 4095}]
        """,
        "bad.yaml: ports[1] (parent): trunk_details.sub_ports[0].segmentation_id: VLAN id 4095 "
        "is outside 1-4094",
    ),
    bad(
        "trunk-sub-port-plugged-into-a-server",
        """
        ports:
          - name: parent
            network_id: lan
            trunk_details: {sub_ports: [{port_id: web-eth0, segmentation_id: 10}]}
        """,
        "bad.yaml: ports[0] (parent): trunk_details.sub_ports[0].port_id: port port-web is "
        "plugged into server srv-web directly",
    ),
    bad(
        "provider-vlan-4095",
        """
        networks:
          - name: n1
            provider:network_type: vlan
            provider:physical_network: physnet1
            provider:segmentation_id: 4095
        """,
        "bad.yaml: networks[0] (n1): provider:segmentation_id: VLAN id 4095 is outside 1-4094",
    ),
    bad(
        "provider-vlan-0",
        """
        networks:
          - {name: n1, "provider:network_type": vlan, "provider:segmentation_id": 0}
        """,
        "bad.yaml: networks[0] (n1): provider:segmentation_id: VLAN id 0 is outside 1-4094",
    ),
    # -- MTU ----------------------------------------------------------------------------------
    bad(
        "mtu-67",
        """
        networks:
          - {name: n1, mtu: 67}
        """,
        "bad.yaml: networks[0] (n1): mtu: 67 is outside 68-65535",
    ),
    bad(
        "mtu-65536",
        """
        networks:
          - {name: n1, mtu: 65536}
        """,
        "bad.yaml: networks[0] (n1): mtu: 65536 is outside 68-65535",
    ),
    bad(
        "mtu-1279-on-stored-network-with-ipv6-subnet",
        """
        networks:
          - {name: lan, mtu: 1279}
        """,
        "bad.yaml: networks[0] (lan): mtu: 1279 is below 1280, the IPv6 minimum, and the network "
        "has an IPv6 subnet",
    ),
    bad(
        "mtu-1279-on-new-network-with-ipv6-subnet",
        """
        networks:
          - {name: n1, mtu: 1279}
        subnets:
          - {name: s1, network_id: n1, cidr: "2001:db8:99::/64"}
        """,
        "bad.yaml: networks[0] (n1): mtu: 1279 is below 1280, the IPv6 minimum, and the network "
        "has an IPv6 subnet",
    ),
    # -- references ---------------------------------------------------------------------------
    bad(
        "unknown-network-of-subnet",
        """
        subnets:
          - {name: s1, network_id: nosuch, cidr: 10.1.0.0/24}
        """,
        "bad.yaml: subnets[0] (s1): network_id: unknown network 'nosuch'",
    ),
    bad(
        "unknown-network-of-port",
        """
        ports:
          - {name: p1, network_id: nosuch}
        """,
        "bad.yaml: ports[0] (p1): network_id: unknown network 'nosuch'",
    ),
    bad(
        "unknown-subnet-of-fixed-ip",
        """
        ports:
          - {name: p1, network_id: lan, fixed_ips: [{subnet_id: nosuch}]}
        """,
        "bad.yaml: ports[0] (p1): fixed_ips[0].subnet_id: unknown subnet 'nosuch'",
    ),
    bad(
        "unknown-server-name-in-device-id",
        """
        ports:
          - {name: p1, network_id: lan, device_id: nosuch}
        """,
        "bad.yaml: ports[0] (p1): device_id: unknown server 'nosuch'",
    ),
    bad(
        "unknown-key-name",
        """
        servers:
          - {name: s1, key_name: nosuch}
        """,
        "bad.yaml: servers[0] (s1): key_name: unknown keypair 'nosuch'",
    ),
    bad(
        "unknown-port-of-floating-ip",
        """
        floatingips:
          - {floating_ip_address: 203.0.113.20, floating_network_id: public, port_id: nosuch}
        """,
        "bad.yaml: floatingips[0]: port_id: unknown port 'nosuch'",
    ),
    bad(
        "unknown-port-of-trunk-sub-port",
        """
        ports:
          - name: parent
            network_id: lan
            trunk_details: {sub_ports: [{port_id: nosuch, segmentation_id: 10}]}
        """,
        "bad.yaml: ports[0] (parent): trunk_details.sub_ports[0].port_id: unknown port 'nosuch'",
    ),
    bad(
        "ambiguous-network-name",  # a second network named lan, with its own id
        """
        networks:
          - {id: net-lan2, name: lan}
        ports:
          - {name: p1, network_id: lan}
        """,
        "bad.yaml: ports[0] (p1): network_id: 'lan' is ambiguous: 2 networks have that name",
    ),
    bad(
        "same-id-twice",
        """
        networks:
          - {id: net-x, name: a}
          - {id: net-x, name: b}
        """,
        "bad.yaml: networks[1] (b): id: also defined at bad.yaml: networks[0] (a)",
    ),
    # -- ports claimed by servers -------------------------------------------------------------
    bad(
        "port-claimed-by-two-servers",
        """
        servers:
          - {name: a, networks: [{port: spare}]}
          - {name: b, networks: [{port: spare}]}
        """,
        "bad.yaml: servers[1] (b): networks[0].port: port port-spare is also claimed by "
        "bad.yaml: servers[0] (a)",
    ),
    bad(
        "port-claimed-while-plugged-into-stored-server",
        """
        servers:
          - {name: db, networks: [{port: web-eth0}]}
        """,
        "bad.yaml: servers[0] (db): networks[0].port: port port-web is plugged into server srv-web",
    ),
    bad(
        "port-claimed-by-new-server-but-plugged-into-another",
        """
        ports:
          - {name: spare, network_id: lan, device_id: web}
        servers:
          - {name: new1, networks: [{port: spare}]}
        """,
        "bad.yaml: ports[0] (spare): device_id: port is claimed by bad.yaml: servers[0] (new1) "
        "but plugged into web",
    ),
    # -- floating IPs -------------------------------------------------------------------------
    bad(
        "floating-ip-fixed-address-not-on-its-port",
        """
        floatingips:
          - floating_ip_address: 203.0.113.20
            floating_network_id: public
            port_id: db-eth0
            fixed_ip_address: 192.168.50.10
        """,
        "bad.yaml: floatingips[0]: fixed_ip_address: 192.168.50.10 is not an address of port "
        "port-db",
    ),
    bad(
        "floating-ip-fixed-address-without-port",
        """
        floatingips:
          - {floating_ip_address: 203.0.113.20, fixed_ip_address: 192.168.50.11}
        """,
        "bad.yaml: floatingips[0]: port_id: is required with fixed_ip_address",
    ),
    bad(
        "floating-ip-address-used-twice",
        """
        floatingips:
          - {id: fip-2, floating_ip_address: 203.0.113.10, floating_network_id: public}
        """,
        "bad.yaml: floatingips[0] (fip-2): floating_ip_address: 203.0.113.10 is already floating "
        "IP fip-web",
    ),
    bad(
        "floating-ip-address-outside-its-network",
        """
        floatingips:
          - {floating_ip_address: 198.51.100.5, floating_network_id: public, port_id: db-eth0}
        """,
        "bad.yaml: floatingips[0]: floating_ip_address: 198.51.100.5 is in no subnet of network "
        "net-public",
    ),
    bad(
        # The file moves web-eth0 to a new address; the stored floating IP still maps the old one.
        "stored-floating-ip-loses-its-fixed-address",
        """
        ports:
          - id: port-web
            name: web-eth0
            network_id: lan
            mac_address: "fa:16:3e:00:00:01"
            device_id: web
            fixed_ips: [{subnet_id: lan-v4, ip_address: 192.168.50.40}]
        """,
        "stored floatingips fip-web: fixed_ip_address: 192.168.50.10 is not an address of port "
        "port-web",
    ),
    # -- servers ------------------------------------------------------------------------------
    bad(
        "user-data-bad-base64",
        """
        servers:
          - {name: s1, "OS-EXT-SRV-ATTR:user_data": "not base64!"}
        """,
        "bad.yaml: servers[0] (s1): OS-EXT-SRV-ATTR:user_data: is not valid base64",
    ),
    bad(
        "user-data-over-64k-base64",
        f"""
        servers:
          - name: s1
            OS-EXT-SRV-ATTR:user_data: {b64(USER_DATA_LIMIT + 1)}
        """,
        "bad.yaml: servers[0] (s1): OS-EXT-SRV-ATTR:user_data: 65537 bytes is over the 64 KiB "
        "limit",
    ),
    bad(
        "user-data-over-64k-plain",  # the line names the field the file used
        f"""
        servers:
          - name: s1
            user_data: {"x" * (USER_DATA_LIMIT + 1)}
        """,
        "bad.yaml: servers[0] (s1): user_data: 65537 bytes is over the 64 KiB limit",
    ),
    bad(
        "flavor-with-no-vcpus",
        """
        servers:
          - {name: s1, flavor: {original_name: tiny, vcpus: 0, ram: 512, disk: 1}}
        """,
        "bad.yaml: servers[0] (s1): flavor.vcpus: 0 must be at least 1",
    ),
    # -- wrong types --------------------------------------------------------------------------
    bad(
        "mtu-as-string",
        """
        networks:
          - {name: n1, mtu: "1500"}
        """,
        "bad.yaml: networks[0] (n1): mtu: must be an integer, not a string",
    ),
    bad(
        "fixed-ips-as-mapping",
        """
        ports:
          - {name: p1, network_id: lan, fixed_ips: {subnet_id: lan-v4}}
        """,
        "bad.yaml: ports[0] (p1): fixed_ips: must be a list, not a mapping",
    ),
    bad(
        "enable-dhcp-as-string",
        """
        subnets:
          - {name: s1, network_id: lan, cidr: 10.1.0.0/24, enable_dhcp: "true"}
        """,
        "bad.yaml: subnets[0] (s1): enable_dhcp: must be true or false, not a string",
    ),
    # -- files that are not apply files -------------------------------------------------------
    bad(
        "unknown-top-level-key",
        """
        routers: []
        """,
        "bad.yaml: unknown top-level key 'routers' (expected one of networks, subnets, ports, "
        "floatingips, bonds, keypairs, servers, flavors)",
        error=SourceError,
    ),
    bad(
        "top-level-list",
        """
        - name: lan
        """,
        "bad.yaml: top level must be a mapping of collections such as 'ports', not a list",
        error=SourceError,
    ),
    bad(
        "collection-as-mapping",
        """
        networks: {name: n1}
        """,
        "bad.yaml: networks: must be a list, not a mapping",
        error=SourceError,
    ),
    bad(
        "collection-item-as-integer",
        """
        ports: [1]
        """,
        "bad.yaml: ports[0]: must be a mapping, not an integer",
        error=SourceError,
    ),
    bad(
        "malformed-yaml-mapping-value",
        """
        networks:
          - name: n1: x
        """,
        "bad.yaml: not valid YAML: mapping values are not allowed in this context at line 2 "
        "column 13",
        error=SourceError,
    ),
    bad(
        "malformed-yaml-tab-indent",
        "networks:\n\t- name: n1\n",
        "bad.yaml: not valid YAML: found character that cannot start any token at line 2 column 1",
        error=SourceError,
    ),
    bad(
        "malformed-json",
        """
        {"networks": [
          {"name": "n1", "mtu": 1500,}
        ]}
        """,
        "bad.json: not valid JSON: Expecting property name enclosed in double quotes at line 2 "
        "column 30",
        path="bad.json",
        error=SourceError,
    ),
    bad(
        "several-structural-problems",
        """
        routers: []
        networks: {name: n1}
        images: []
        """,
        "bad.yaml: unknown top-level key 'routers' (expected one of networks, subnets, ports, "
        "floatingips, bonds, keypairs, servers, flavors)",
        "bad.yaml: networks: must be a list, not a mapping",
        "bad.yaml: unknown top-level key 'images' (expected one of networks, subnets, ports, "
        "floatingips, bonds, keypairs, servers, flavors)",
        error=SourceError,
    ),
    # -- every problem at once ----------------------------------------------------------------
    bad(
        "several-problems-of-several-kinds",
        """
        networks:
          - {name: n1, mtu: 67}
        subnets:
          - {name: s1, network_id: n1, cidr: 10.1.0.1/24}
          - {name: s2, network_id: lan, cidr: 10.2.0.0/24, gateway_ip: 10.3.0.1}
        ports:
          - {name: p1, network_id: lan, mac_address: "01:00:5e:00:00:01"}
        servers:
          - {name: s1, key_name: nosuch}
        """,
        "bad.yaml: networks[0] (n1): mtu: 67 is outside 68-65535",
        "bad.yaml: subnets[0] (s1): cidr: '10.1.0.1/24' has host bits set",
        "bad.yaml: subnets[1] (s2): gateway_ip: 10.3.0.1 is outside 10.2.0.0/24",
        "bad.yaml: ports[0] (p1): mac_address: '01:00:5e:00:00:01' is a multicast MAC address",
        "bad.yaml: servers[0] (s1): key_name: unknown keypair 'nosuch'",
    ),
    bad(
        # A field problem in one item must not hide a duplicate address in another.
        "field-problem-and-duplicate-address",
        """
        ports:
          - {name: p1, network_id: lan, mac_address: "fa:16:3e:zz:00:01"}
          - name: p2
            network_id: lan
            fixed_ips: [{subnet_id: lan-v4, ip_address: 192.168.50.10}]
        """,
        "bad.yaml: ports[0] (p1): mac_address: 'fa:16:3e:zz:00:01' is not a MAC address "
        "(expected six hex pairs)",
        "bad.yaml: ports[1] (p2): fixed_ips[0].ip_address: 192.168.50.10 is already used by port "
        "port-web in subnet sub-lan-v4",
    ),
    bad(
        # An item that fails is left out and problems about it are not repeated; but that must
        # not hide problems of other items whose lines merely contain the failed item's id
        # (a keypair's id is its name, here a word of the duplicate-MAC message).
        "failed-keypair-hides-nothing-else",
        """
        keypairs:
          - {name: network, public_key: ""}
        ports:
          - {name: p1, network_id: lan, mac_address: "fa:16:3e:00:00:01"}
        """,
        "bad.yaml: keypairs[0] (network): public_key: must not be empty",
        "bad.yaml: ports[0] (p1): mac_address: fa:16:3e:00:00:01 is already used by port "
        "port-web on the same network",
    ),
    # -- several files ------------------------------------------------------------------------
    bad_files(
        "one-bad-file-among-two-good",
        {
            "good1.yaml": """
                networks:
                  - {name: extra, mtu: 9000}
                subnets:
                  - {name: extra-v4, network_id: extra, cidr: 10.9.0.0/24}
                """,
            "bad.yaml": """
                ports:
                  - {name: p1, network_id: lan, mac_address: "01:00:5e:00:00:01"}
                """,
            "good2.yaml": """
                ports:
                  - {name: extra-port, network_id: extra, device_id: web}
                """,
        },
        "bad.yaml: ports[0] (p1): mac_address: '01:00:5e:00:00:01' is a multicast MAC address",
    ),
    bad_files(
        "same-id-in-two-files",
        {
            "one.yaml": """
                networks:
                  - {id: net-x, name: a}
                """,
            "two.yaml": """
                networks:
                  - {id: net-x, name: b}
                """,
        },
        "two.yaml: networks[0] (b): id: also defined at one.yaml: networks[0] (a)",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_rejected_and_store_unchanged(store: Store, case: Case) -> None:
    apply_base(store)
    revision, before = store.revision(), store.load()
    assert revision > 0 and before.ports and before.servers  # the base is really there

    with pytest.raises(case.error) as raised:
        attempt(store, case.files)

    got = raised.value.lines if isinstance(raised.value, ApplyError) else str(raised.value)
    lines = got if isinstance(got, list) else got.splitlines()
    assert lines == list(case.lines)
    assert store.revision() == revision
    assert store.load() == before


def test_good_files_of_the_mixed_case_apply_alone(store: Store) -> None:
    """The good files of ``one-bad-file-among-two-good`` are fine by themselves, so that case
    really shows one bad file keeping the good ones out."""
    apply_base(store)
    revision = store.revision()
    (case,) = (p.values[0] for p in CASES if p.id == "one-bad-file-among-two-good")
    attempt(store, tuple(f for f in case.files if f[0] != "bad.yaml"))
    assert store.revision() == revision + 1
    names = {p.name for p in store.load().ports.values()}
    assert "extra-port" in names


def test_values_at_the_limits_are_accepted(store: Store) -> None:
    """The edges of every range the table rejects just outside of."""
    apply_base(store)
    text = textwrap.dedent(
        f"""
        networks:
          - {{name: n68, mtu: 68}}
          - {{name: n65535, mtu: 65535}}
          - {{name: n1280, mtu: 1280}}
          - {{name: v1, "provider:network_type": vlan, "provider:segmentation_id": 1}}
          - {{name: v4094, "provider:network_type": vlan, "provider:segmentation_id": 4094}}
        subnets:
          - {{name: s1280, network_id: n1280, cidr: "2001:db8:12::/64"}}
        ports:
          - {{name: c1, network_id: lan}}
          - {{name: c4094, network_id: lan}}
          - name: parent
            network_id: lan
            fixed_ips: [{{subnet_id: lan-v4, ip_address: 192.168.50.254}}]
            trunk_details:
              sub_ports:
                - {{port_id: c1, segmentation_id: 1}}
                - {{port_id: c4094, segmentation_id: 4094}}
        servers:
          - name: big
            OS-EXT-SRV-ATTR:user_data: {b64(USER_DATA_LIMIT)}
        """
    )
    attempt(store, (("edges.yaml", text),))
    topology = store.load()
    (big,) = (s for s in topology.servers.values() if s.name == "big")
    assert big.user_data is not None and len(big.user_data) == USER_DATA_LIMIT
    assert {n.mtu for n in topology.networks.values()} >= {68, 65535, 1280}
