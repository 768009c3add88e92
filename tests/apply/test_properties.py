"""Property tests of the planner: any valid hand-written file applies, allocates sanely,
and applies a second time without a change."""

import ipaddress
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from guestmeta.apply import load_document, plan_apply
from guestmeta.model import Topology


@st.composite
def handwritten(draw):
    networks, subnets, ports, servers = [], [], [], []
    for n in range(draw(st.integers(1, 3))):
        networks.append({"name": f"net{n}"})
        prefix = draw(st.integers(26, 28))  # room for 6 ports x 2 addresses
        subnets.append(
            {"name": f"net{n}-v4", "network_id": f"net{n}", "cidr": f"10.{n}.0.0/{prefix}",
             "gateway_ip": draw(st.sampled_from([None, f"10.{n}.0.1"]))}
        )  # fmt: skip
        if draw(st.booleans()):
            subnets.append(
                {"name": f"net{n}-v6", "network_id": f"net{n}", "ip_version": 6,
                 "cidr": f"2001:db8:{n}::/64",
                 "ipv6_address_mode": draw(st.sampled_from([None, "slaac", "dhcpv6-stateful"]))}
            )  # fmt: skip
    server_count = draw(st.integers(1, 3))
    servers = [{"name": f"vm{s}"} for s in range(server_count)]
    for p in range(draw(st.integers(0, 6))):
        n = draw(st.integers(0, len(networks) - 1))
        port = {"name": f"port{p}", "network_id": f"net{n}",
                "device_id": f"vm{draw(st.integers(0, server_count - 1))}"}  # fmt: skip
        style = draw(st.sampled_from(["omit", "subnet", "none"]))
        if style == "subnet":
            port["fixed_ips"] = [{"subnet_id": f"net{n}-v4"}, {"subnet_id": f"net{n}-v4"}]
        elif style == "none":
            port["fixed_ips"] = []
        ports.append(port)
    body = {"networks": networks, "subnets": subnets, "ports": ports, "servers": servers}
    return body


@settings(max_examples=80, deadline=None)
@given(handwritten())
def test_any_handwritten_file_applies_twice_the_same(body):
    doc = load_document("gen.json", text=json.dumps(body))
    plan = plan_apply(Topology(), [doc])
    new = plan.topology
    assert len(new.ports) == len(body["ports"])
    seen = set()
    for port in new.ports.values():
        assert port.mac_address.startswith("fa:16:3e:")
        assert new.servers[port.device_id].name.startswith("vm")
        for fixed in port.fixed_ips:
            subnet = new.subnets[fixed.subnet_id]
            address = ipaddress.ip_address(fixed.ip_address)
            net = ipaddress.ip_network(subnet.cidr)
            assert address in net
            assert address not in (net.network_address, net.broadcast_address) or net.version == 6
            assert subnet.gateway_ip != fixed.ip_address
            assert (fixed.subnet_id, address) not in seen
            seen.add((fixed.subnet_id, address))
    # Every port given two entries on its v4 subnet got two distinct addresses there.
    for spec in body["ports"]:
        port = next(p for p in new.ports.values() if p.name == spec["name"])
        if spec.get("fixed_ips") == []:
            assert port.fixed_ips == ()
        elif "fixed_ips" in spec:
            assert len(port.fixed_ips) == 2
    again = plan_apply(new, [doc])
    assert again.changes == []
