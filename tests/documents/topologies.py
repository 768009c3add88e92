"""The matrix of topologies every consumer is checked against, with the intended result.

Each :class:`Case` is a :class:`Topology` with one server, and what a guest should end up
with, written by hand from the topology (never from any renderer's output): per
interface its static addresses with prefixes, the addresses it forms itself (SLAAC,
DHCPv6), routes, DNS, MTU, VLAN and bond. The tests of cloud-init, glean, cloudbase-init
and Nova all import this module, so it holds data only.

Interfaces are named as cloud-init names them when told ``ethN`` for each MAC:
``eth0.101`` for a VLAN on eth0, ``bond0`` for the first bond.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from guestmeta.model import (
    Bond,
    FixedIP,
    HostRoute,
    Keypair,
    Network,
    Port,
    Server,
    Subnet,
    SubPort,
    Topology,
    Trunk,
)

SERVER_ID = "5e7e0000-0000-4000-8000-00000000002a"
KEY = Keypair(
    "ops",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ0aW5nLXRoZS1rZXktb2YtdGhlLW1hdHJpeA ops@example",
)
SERVER = Server(
    id=SERVER_ID,
    name="Matrix VM",
    domain_name="instance-0000002a",
    created=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    hostname="matrix-vm",
    host="kvm1",
    project_id="7e570000000040008000000000000001",
    user_id="05e40000000040008000000000000001",
    availability_zone="az1",
    metadata={"role": "matrix"},
    user_data=b"#cloud-config\nhostname: matrix-vm\n",
    key_name="ops",
    image_id="1ca9e000-0000-4000-8000-000000000001",
)


@dataclass(frozen=True)
class Route:
    to: str  # CIDR
    via: str


@dataclass(frozen=True)
class Interface:
    """What one guest interface should get."""

    name: str
    mac: str  # the MAC the guest finds it by (a VLAN: the sub-port's; a bond: first member's)
    kind: str = "ethernet"  # ethernet | vlan | bond
    static: tuple[str, ...] = ()  # address/prefix configured as given
    auto6: tuple[str, ...] = ()  # addresses the guest forms itself (SLAAC / DHCPv6)
    dhcp4: bool = False
    ipv6_mode: str | None = None  # slaac | dhcpv6-stateful | dhcpv6-stateless
    routes: tuple[Route, ...] = ()
    dns: tuple[str, ...] = ()  # this interface's subnets' servers
    mtu: int | None = None
    vlan_id: int | None = None
    vlan_parent: str | None = None  # name of the interface the VLAN rides on
    bond_members: tuple[str, ...] = ()  # member interface names
    bond_mode: str | None = None
    bond_miimon: int | None = None
    bond_hash_policy: str | None = None


@dataclass(frozen=True)
class Case:
    name: str
    topology: Topology
    interfaces: tuple[Interface, ...]
    dns: tuple[str, ...]  # the top-level union, first seen first
    types: tuple[str, ...]  # network entry types, in document order
    # One address per family per port, no VLAN or bond: what Nova can express at all.
    nova_handles: bool = True
    nova_differs: str = ""  # where Nova's document is knowingly different from ours
    server_id: str = SERVER_ID

    @property
    def macs(self) -> dict[str, str]:
        """Guest NIC name -> MAC of every physical interface (what ``-m`` tells cloud-init)."""
        return {i.name: i.mac for i in self.interfaces if i.kind == "ethernet"}

    @property
    def addresses(self) -> tuple[str, ...]:
        """Every fixed address of the server, without prefix."""
        return tuple(a.split("/")[0] for i in self.interfaces for a in (*i.static, *i.auto6))


@dataclass
class _Build:
    networks: list[Network] = field(default_factory=list)
    subnets: list[Subnet] = field(default_factory=list)
    ports: list[Port] = field(default_factory=list)
    bonds: list[Bond] = field(default_factory=list)

    def topology(self) -> Topology:
        return Topology(
            networks={n.id: n for n in self.networks},
            subnets={s.id: s for s in self.subnets},
            ports={p.id: p for p in self.ports},
            bonds={b.id: b for b in self.bonds},
            keypairs={KEY.name: KEY},
            servers={SERVER.id: SERVER},
        )


def _net(n: int, mtu: int | None = 1500) -> Network:
    return Network(id=f"0e700000-0000-4000-8000-{n:012d}", name=f"net{n}", mtu=mtu)


def _subnet(
    net: Network,
    n: int,
    cidr: str,
    gateway: str | None,
    *,
    dhcp: bool = False,
    mode: str | None = None,
    dns: tuple[str, ...] = (),
    routes: tuple[HostRoute, ...] = (),
) -> Subnet:
    return Subnet(
        id=f"5b000000-0000-4000-8000-{n:012d}",
        network_id=net.id,
        cidr=cidr,
        ip_version=6 if ":" in cidr else 4,
        name=f"subnet{n}",
        gateway_ip=gateway,
        enable_dhcp=dhcp,
        ipv6_address_mode=mode,
        ipv6_ra_mode=mode,
        dns_nameservers=dns,
        host_routes=routes,
    )


def _port(
    n: int,
    net: Network,
    mac: str,
    ips: tuple[tuple[Subnet, str], ...],
    *,
    server: bool = True,
    trunk: tuple[tuple[Port, int], ...] = (),
) -> Port:
    return Port(
        id=f"{n:08x}-9000-4000-8000-000000000000",
        network_id=net.id,
        mac_address=mac,
        fixed_ips=tuple(FixedIP(s.id, a) for s, a in ips),
        device_id=SERVER_ID if server else "",
        device_owner="compute:nova" if server else "trunk:subport",
        vif_type="ovs",
        trunk=Trunk(
            f"{n:08x}-7000-4000-8000-000000000000", tuple(SubPort(p.id, v) for p, v in trunk)
        )
        if trunk
        else None,
        seq=n,
    )


def _case(name: str, build: _Build, interfaces: tuple[Interface, ...], **kw: object) -> Case:
    return Case(name, build.topology(), interfaces, **kw)  # type: ignore[arg-type]


DEFAULT4 = "0.0.0.0/0"
DEFAULT6 = "::/0"


def static_v4() -> Case:
    net = _net(1)
    v4 = _subnet(net, 1, "192.168.10.0/24", "192.168.10.1", dns=("192.168.10.2",))
    port = _port(1, net, "fa:16:3e:00:01:01", ((v4, "192.168.10.10"),))
    eth0 = Interface(
        "eth0",
        "fa:16:3e:00:01:01",
        static=("192.168.10.10/24",),
        routes=(Route(DEFAULT4, "192.168.10.1"),),
        dns=("192.168.10.2",),
        mtu=1500,
    )
    return _case(
        "static_v4", _Build([net], [v4], [port]), (eth0,), dns=("192.168.10.2",), types=("ipv4",)
    )


def v4_v6_static() -> Case:
    net = _net(2)
    v4 = _subnet(net, 2, "192.168.20.0/24", "192.168.20.1", dns=("192.168.20.2",))
    v6 = _subnet(net, 3, "2001:db8:20::/64", "2001:db8:20::1", dns=("2001:db8:20::53",))
    port = _port(2, net, "fa:16:3e:00:02:01", ((v4, "192.168.20.10"), (v6, "2001:db8:20::10")))
    eth0 = Interface(
        "eth0",
        "fa:16:3e:00:02:01",
        static=("192.168.20.10/24", "2001:db8:20::10/64"),
        routes=(Route(DEFAULT4, "192.168.20.1"), Route(DEFAULT6, "2001:db8:20::1")),
        dns=("192.168.20.2", "2001:db8:20::53"),
        mtu=1500,
    )
    return _case(
        "v4_v6_static",
        _Build([net], [v4, v6], [port]),
        (eth0,),
        dns=("192.168.20.2", "2001:db8:20::53"),
        types=("ipv4", "ipv6"),
    )


def v4_dhcp() -> Case:
    net = _net(3, mtu=1450)
    v4 = _subnet(net, 4, "10.30.0.0/24", "10.30.0.1", dhcp=True, dns=("10.30.0.2",))
    port = _port(3, net, "fa:16:3e:00:03:01", ((v4, "10.30.0.10"),))
    # The address comes from the subnet's DHCP server; the MTU is still in the document.
    eth0 = Interface("eth0", "fa:16:3e:00:03:01", dhcp4=True, dns=("10.30.0.2",), mtu=1450)
    return _case(
        "v4_dhcp",
        _Build([net], [v4], [port]),
        (eth0,),
        dns=("10.30.0.2",),
        types=("ipv4_dhcp",),
        nova_differs="mtu: Nova gives null on a subnet with DHCP",
    )


def _v6_mode(name: str, n: int, mode: str, v6_address: str, dhcp: bool) -> Case:
    net = _net(n)
    v4 = _subnet(net, 10 * n, f"10.{n}.0.0/24", f"10.{n}.0.1", dns=(f"10.{n}.0.2",))
    v6 = _subnet(net, 10 * n + 1, f"2001:db8:{n}::/64", f"2001:db8:{n}::1", dhcp=dhcp, mode=mode)
    mac = f"fa:16:3e:00:{n:02x}:01"
    port = _port(n, net, mac, ((v4, f"10.{n}.0.10"), (v6, v6_address)))
    eth0 = Interface(
        "eth0",
        mac,
        static=(f"10.{n}.0.10/24",),
        auto6=(f"{v6_address}/64",),
        ipv6_mode=mode,
        routes=(Route(DEFAULT4, f"10.{n}.0.1"), Route(DEFAULT6, f"2001:db8:{n}::1")),
        dns=(f"10.{n}.0.2",),
        mtu=1500,
    )
    return _case(
        name,
        _Build([net], [v4, v6], [port]),
        (eth0,),
        dns=(f"10.{n}.0.2",),
        types=("ipv4", f"ipv6_{mode}"),
    )


def v6_slaac() -> Case:
    # EUI-64 of fa:16:3e:00:04:01 by hand: fa^02 = f8 -> f816:3eff:fe00:0401.
    return _v6_mode("v6_slaac", 4, "slaac", "2001:db8:4::f816:3eff:fe00:401", dhcp=False)


def dhcpv6_stateful() -> Case:
    return _v6_mode("dhcpv6_stateful", 5, "dhcpv6-stateful", "2001:db8:5::10", dhcp=True)


def dhcpv6_stateless() -> Case:
    # EUI-64 of fa:16:3e:00:06:01: f816:3eff:fe00:0601.
    return _v6_mode(
        "dhcpv6_stateless", 6, "dhcpv6-stateless", "2001:db8:6::f816:3eff:fe00:601", dhcp=True
    )


def v6_only() -> Case:
    net = _net(7)
    v6 = _subnet(net, 70, "2001:db8:70::/64", "2001:db8:70::1", dns=("2001:db8:70::53",))
    port = _port(7, net, "fa:16:3e:00:07:01", ((v6, "2001:db8:70::10"),))
    eth0 = Interface(
        "eth0",
        "fa:16:3e:00:07:01",
        static=("2001:db8:70::10/64",),
        routes=(Route(DEFAULT6, "2001:db8:70::1"),),
        dns=("2001:db8:70::53",),
        mtu=1500,
    )
    return _case(
        "v6_only", _Build([net], [v6], [port]), (eth0,), dns=("2001:db8:70::53",), types=("ipv6",)
    )


def two_ports() -> Case:
    a, b = _net(8), _net(9, mtu=1400)
    sa = _subnet(a, 80, "10.80.0.0/24", "10.80.0.1", dns=("10.80.0.2",))
    sb = _subnet(b, 90, "10.90.0.0/24", None, dns=("10.90.0.2", "10.80.0.2"))
    pa = _port(8, a, "fa:16:3e:00:08:01", ((sa, "10.80.0.10"),))
    pb = _port(9, b, "fa:16:3e:00:09:01", ((sb, "10.90.0.10"),))
    eth0 = Interface(
        "eth0",
        "fa:16:3e:00:08:01",
        static=("10.80.0.10/24",),
        routes=(Route(DEFAULT4, "10.80.0.1"),),
        dns=("10.80.0.2",),
        mtu=1500,
    )
    eth1 = Interface(
        "eth1",
        "fa:16:3e:00:09:01",
        static=("10.90.0.10/24",),
        dns=("10.90.0.2", "10.80.0.2"),
        mtu=1400,
    )
    return _case(
        "two_ports",
        _Build([a, b], [sa, sb], [pa, pb]),
        (eth0, eth1),
        dns=("10.80.0.2", "10.90.0.2"),
        types=("ipv4", "ipv4"),
    )


def two_ips_one_subnet() -> Case:
    net = _net(10)
    v4 = _subnet(net, 100, "192.168.50.0/24", "192.168.50.1", dns=("192.168.50.2",))
    port = _port(10, net, "fa:16:3e:00:0a:01", ((v4, "192.168.50.10"), (v4, "192.168.50.11")))
    eth0 = Interface(
        "eth0",
        "fa:16:3e:00:0a:01",
        static=("192.168.50.10/24", "192.168.50.11/24"),
        routes=(Route(DEFAULT4, "192.168.50.1"),),
        dns=("192.168.50.2",),
        mtu=1500,
    )
    return _case(
        "two_ips_one_subnet",
        _Build([net], [v4], [port]),
        (eth0,),
        dns=("192.168.50.2",),
        types=("ipv4", "ipv4"),
        nova_handles=False,
        nova_differs="Nova keeps only 192.168.50.10",
    )


def two_subnets_one_family() -> Case:
    net = _net(11)
    first = _subnet(net, 110, "10.110.0.0/24", "10.110.0.1", dns=("10.110.0.2",))
    second = _subnet(net, 111, "10.111.0.0/24", None, dns=("10.111.0.2",))
    port = _port(11, net, "fa:16:3e:00:0b:01", ((first, "10.110.0.10"), (second, "10.111.0.10")))
    eth0 = Interface(
        "eth0",
        "fa:16:3e:00:0b:01",
        static=("10.110.0.10/24", "10.111.0.10/24"),
        routes=(Route(DEFAULT4, "10.110.0.1"),),
        dns=("10.110.0.2", "10.111.0.2"),
        mtu=1500,
    )
    return _case(
        "two_subnets_one_family",
        _Build([net], [first, second], [port]),
        (eth0,),
        dns=("10.110.0.2", "10.111.0.2"),
        types=("ipv4", "ipv4"),
        nova_handles=False,
        nova_differs="Nova keeps only the first subnet (10.110.0.10)",
    )


def no_gateway() -> Case:
    net = _net(12)
    v4 = _subnet(net, 120, "172.16.12.0/24", None)
    port = _port(12, net, "fa:16:3e:00:0c:01", ((v4, "172.16.12.10"),))
    eth0 = Interface("eth0", "fa:16:3e:00:0c:01", static=("172.16.12.10/24",), mtu=1500)
    return _case("no_gateway", _Build([net], [v4], [port]), (eth0,), dns=(), types=("ipv4",))


def host_routes() -> Case:
    net = _net(13)
    v4 = _subnet(
        net,
        130,
        "10.13.0.0/24",
        "10.13.0.1",
        dns=("10.13.0.2",),
        routes=(
            HostRoute("172.16.0.0/12", "10.13.0.254"),
            HostRoute("192.168.100.0/24", "10.13.0.253"),
        ),
    )
    v6 = _subnet(
        net,
        131,
        "2001:db8:13::/64",
        "2001:db8:13::1",
        routes=(HostRoute("2001:db8:ff::/48", "2001:db8:13::fe"),),
    )
    port = _port(13, net, "fa:16:3e:00:0d:01", ((v4, "10.13.0.10"), (v6, "2001:db8:13::10")))
    eth0 = Interface(
        "eth0",
        "fa:16:3e:00:0d:01",
        static=("10.13.0.10/24", "2001:db8:13::10/64"),
        routes=(
            Route(DEFAULT4, "10.13.0.1"),
            Route("172.16.0.0/12", "10.13.0.254"),
            Route("192.168.100.0/24", "10.13.0.253"),
            Route(DEFAULT6, "2001:db8:13::1"),
            Route("2001:db8:ff::/48", "2001:db8:13::fe"),
        ),
        dns=("10.13.0.2",),
        mtu=1500,
    )
    return _case(
        "host_routes",
        _Build([net], [v4, v6], [port]),
        (eth0,),
        dns=("10.13.0.2",),
        types=("ipv4", "ipv6"),
    )


def mtu_9000() -> Case:
    net = _net(14, mtu=9000)
    v4 = _subnet(net, 140, "10.14.0.0/24", "10.14.0.1")
    port = _port(14, net, "fa:16:3e:00:0e:01", ((v4, "10.14.0.10"),))
    eth0 = Interface(
        "eth0",
        "fa:16:3e:00:0e:01",
        static=("10.14.0.10/24",),
        routes=(Route(DEFAULT4, "10.14.0.1"),),
        mtu=9000,
    )
    return _case("mtu_9000", _Build([net], [v4], [port]), (eth0,), dns=(), types=("ipv4",))


def trunk() -> Case:
    parent_net, red, blue = _net(15), _net(16), _net(17, mtu=1450)
    sp = _subnet(parent_net, 150, "10.15.0.0/24", "10.15.0.1", dns=("10.15.0.2",))
    sr = _subnet(red, 160, "10.101.0.0/24", None, dns=("10.101.0.2",))
    sb = _subnet(blue, 170, "10.102.0.0/24", None)
    sb6 = _subnet(blue, 171, "2001:db8:102::/64", None)
    red_port = _port(16, red, "fa:16:3e:00:10:65", ((sr, "10.101.0.10"),), server=False)
    blue_port = _port(
        17,
        blue,
        "fa:16:3e:00:11:66",
        ((sb, "10.102.0.10"), (sb6, "2001:db8:102::10")),
        server=False,
    )
    parent = _port(
        15,
        parent_net,
        "fa:16:3e:00:0f:01",
        ((sp, "10.15.0.10"),),
        trunk=((red_port, 101), (blue_port, 102)),
    )
    interfaces = (
        Interface(
            "eth0",
            "fa:16:3e:00:0f:01",
            static=("10.15.0.10/24",),
            routes=(Route(DEFAULT4, "10.15.0.1"),),
            dns=("10.15.0.2",),
            mtu=1500,
        ),
        Interface(
            "eth0.101",
            "fa:16:3e:00:10:65",
            kind="vlan",
            static=("10.101.0.10/24",),
            dns=("10.101.0.2",),
            mtu=1500,
            vlan_id=101,
            vlan_parent="eth0",
        ),
        Interface(
            "eth0.102",
            "fa:16:3e:00:11:66",
            kind="vlan",
            static=("10.102.0.10/24", "2001:db8:102::10/64"),
            mtu=1450,
            vlan_id=102,
            vlan_parent="eth0",
        ),
    )
    return _case(
        "trunk",
        _Build([parent_net, red, blue], [sp, sr, sb, sb6], [parent, red_port, blue_port]),
        interfaces,
        dns=("10.15.0.2", "10.101.0.2"),
        types=("ipv4", "ipv4", "ipv4", "ipv6"),
        nova_handles=False,
        nova_differs="Nova writes no vlan links: the sub-ports' addresses are lost",
    )


def bond_vlan() -> Case:
    net, vnet = _net(18, mtu=9000), _net(19)
    s = _subnet(net, 180, "10.18.0.0/24", "10.18.0.1", dns=("10.18.0.2",))
    sv = _subnet(vnet, 190, "10.200.0.0/24", None)
    vlan_port = _port(20, vnet, "fa:16:3e:00:14:c8", ((sv, "10.200.0.10"),), server=False)
    first = _port(18, net, "fa:16:3e:00:12:01", ((s, "10.18.0.10"),), trunk=((vlan_port, 200),))
    second = _port(19, net, "fa:16:3e:00:13:01", ())
    bond = Bond(
        id="b0b00000-0000-4000-8000-000000000001",
        ports=(first.id, second.id),
        name="bond0",
        mode="802.3ad",
        miimon=100,
        xmit_hash_policy="layer3+4",
    )
    interfaces = (
        Interface("eth0", "fa:16:3e:00:12:01", mtu=9000),
        Interface("eth1", "fa:16:3e:00:13:01", mtu=9000),
        Interface(
            "bond0",
            "fa:16:3e:00:12:01",
            kind="bond",
            static=("10.18.0.10/24",),
            routes=(Route(DEFAULT4, "10.18.0.1"),),
            dns=("10.18.0.2",),
            mtu=9000,
            bond_members=("eth0", "eth1"),
            bond_mode="802.3ad",
            bond_miimon=100,
            bond_hash_policy="layer3+4",
        ),
        Interface(
            "bond0.200",
            "fa:16:3e:00:14:c8",
            kind="vlan",
            static=("10.200.0.10/24",),
            mtu=1500,
            vlan_id=200,
            vlan_parent="bond0",
        ),
    )
    return _case(
        "bond_vlan",
        _Build([net, vnet], [s, sv], [first, second, vlan_port], [bond]),
        interfaces,
        dns=("10.18.0.2",),
        types=("ipv4", "ipv4"),
        nova_handles=False,
        nova_differs="Nova writes no bond or vlan links",
    )


CASES: tuple[Case, ...] = (
    static_v4(),
    v4_v6_static(),
    v4_dhcp(),
    v6_slaac(),
    dhcpv6_stateful(),
    dhcpv6_stateless(),
    v6_only(),
    two_ports(),
    two_ips_one_subnet(),
    two_subnets_one_family(),
    no_gateway(),
    host_routes(),
    mtu_9000(),
    trunk(),
    bond_vlan(),
)
BY_NAME = {case.name: case for case in CASES}
