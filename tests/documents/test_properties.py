"""Property: any valid topology renders a document that real cloud-init converts, everywhere.

Each generated server (one to three ports, IPv4 and/or IPv6 subnets with every mode, DHCP
or not, gateways, host routes, DNS, several addresses per subnet, trunk sub-ports) goes
through cloud-init's four renderers in one interpreter; none may fail, and each output
must contain every address of a static entry. Addresses on SLAAC and DHCPv6 subnets are
left out of that check: cloud-init lets the guest form them and never writes them.
Converting is a subprocess, so examples are few.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guestmeta.documents import network_data
from guestmeta.model import (
    FixedIP,
    HostRoute,
    Network,
    Port,
    Server,
    Subnet,
    SubPort,
    Topology,
    Trunk,
)
from tests.consumers import cloudinit

SERVER_ID = "server-1"
Generated = tuple[Topology, dict[str, str], list[str]]


@st.composite
def subnet_for(draw: st.DrawFn, net: Network, n: int, version: int) -> tuple[Subnet, list[str]]:
    dns = tuple(
        draw(
            st.lists(
                st.sampled_from(["10.255.0.2", "10.255.0.3", "2001:db8::53"]),
                max_size=2,
                unique=True,
            )
        )
    )
    if version == 4:
        cidr = ipaddress.ip_network(f"10.{n}.{draw(st.integers(0, 255))}.0/24")
        mode = None
        routes = (HostRoute("172.16.0.0/12", str(cidr[254])),) if draw(st.booleans()) else ()
    else:
        cidr = ipaddress.ip_network(f"2001:db8:{n}:{draw(st.integers(0, 0xFFFF)):x}::/64")
        mode = draw(st.sampled_from([None, "slaac", "dhcpv6-stateful", "dhcpv6-stateless"]))
        routes = ()
    hosts = draw(st.lists(st.integers(10, 200), min_size=1, max_size=2, unique=True))
    subnet = Subnet(
        id=f"subnet-{n}-{version}",
        network_id=net.id,
        cidr=str(cidr),
        ip_version=version,
        gateway_ip=str(cidr[1]) if draw(st.booleans()) else None,
        enable_dhcp=draw(st.booleans()),
        ipv6_address_mode=mode,
        ipv6_ra_mode=mode,
        dns_nameservers=dns,
        host_routes=routes,
    )
    return subnet, [str(cidr[h]) for h in hosts]


@st.composite
def port_on(draw: st.DrawFn, n: int, device: str) -> tuple[Port, Network, list[Subnet]]:
    net = Network(id=f"net-{n}", mtu=draw(st.sampled_from([None, 1280, 1500, 9000])))
    versions = draw(st.sampled_from([(4,), (6,), (4, 6)]))
    subnets, fixed = [], []
    for version in versions:
        subnet, addresses = draw(subnet_for(net, n, version))
        subnets.append(subnet)
        fixed += [FixedIP(subnet.id, a) for a in addresses]
    port = Port(
        id=f"port-{n}",
        network_id=net.id,
        mac_address=f"fa:16:3e:{n:02x}:00:01",
        fixed_ips=tuple(fixed),
        device_id=device,
        vif_type=draw(st.sampled_from([None, "ovs", "bridge", "tap"])),
        seq=n,
    )
    return port, net, subnets


@st.composite
def topologies(draw: st.DrawFn) -> Generated:
    topology = Topology()
    topology.servers[SERVER_ID] = Server(
        id=SERVER_ID, name="prop", domain_name="prop", created=datetime(2025, 1, 1, tzinfo=UTC)
    )
    macs = {}
    for i in range(draw(st.integers(1, 3))):
        port, net, subnets = draw(port_on(i, SERVER_ID))
        if draw(st.booleans()):
            sub, sub_net, sub_subnets = draw(port_on(10 + i, ""))
            topology.ports[sub.id] = sub
            topology.networks[sub_net.id] = sub_net
            topology.subnets.update({s.id: s for s in sub_subnets})
            vlan = draw(st.integers(1, 4094))
            port = Port(
                **{
                    **{f: getattr(port, f) for f in port.__dataclass_fields__},
                    "trunk": Trunk(f"trunk-{i}", (SubPort(sub.id, vlan),)),
                }
            )
        topology.ports[port.id] = port
        topology.networks[net.id] = net
        topology.subnets.update({s.id: s for s in subnets})
        macs[f"eth{i}"] = port.mac_address
    document = network_data(topology, SERVER_ID)
    assert document is not None
    static = [n["ip_address"] for n in document["networks"] if n["type"] in ("ipv4", "ipv6")]
    return topology, macs, static


@pytest.mark.consumers("cloud-init")
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topologies())
def test_cloud_init_converts_every_generated_document(generated: Generated) -> None:
    topology, macs, static = generated
    assert topology.problems() == []
    document = network_data(topology, SERVER_ID)
    assert document is not None
    jobs = [(document, macs, output) for output in cloudinit.OUTPUTS]
    for (_, _, output), result in zip(jobs, cloudinit.net_convert_many(jobs), strict=True):
        assert not isinstance(result, Exception), result
        text = "\n".join(result.values())
        for address in static:
            assert address in text, f"{address} missing from {output}"
