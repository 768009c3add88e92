"""The ``--vif-source`` template, the ``<interface>`` it gives, and reading interfaces back."""

from __future__ import annotations

import pytest

from guestmeta.libvirt.interfaces import (
    VifSource,
    VifSourceError,
    interface_xml,
    interfaces,
    parse_vif_source,
)
from guestmeta.model import Topology
from tests.libvirt.conftest import (
    PORT_RUN1,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("user", VifSource("user")),
        ("bridge:br0", VifSource("bridge", "br0")),
        ("network:default", VifSource("network", "default")),
        ("ovs:br-int", VifSource("ovs", "br-int")),
    ],
)
def test_vif_sources_parse(text: str, expected: VifSource) -> None:
    assert parse_vif_source(text) == expected
    assert str(expected) == text


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("macvtap:eth0", "expected user, bridge:NAME, network:NAME or ovs:NAME"),
        ("bridge", "bridge needs a name"),
        ("bridge:", "bridge needs a name"),
        ("user:x", "user takes no name"),
        ("bridge:br 0", "'br 0' is not a usable name"),
        ("network:a'b", "is not a usable name"),
    ],
)
def test_bad_vif_sources_are_refused_by_name(text: str, complaint: str) -> None:
    with pytest.raises(VifSourceError) as info:
        parse_vif_source(text)
    assert complaint in str(info.value)
    assert repr(text) in str(info.value)


def test_interface_xml_for_each_kind(topology: Topology) -> None:
    port = topology.ports[PORT_RUN1]
    assert interface_xml(port, VifSource("user")) == (
        '<interface type="user"><mac address="fa:16:3e:00:01:02"/>'
        '<model type="virtio"/></interface>'
    )
    assert interface_xml(port, VifSource("bridge", "br0"), mtu=1500) == (
        '<interface type="bridge"><mac address="fa:16:3e:00:01:02"/><source bridge="br0"/>'
        '<target dev="tap7d1e2f30-00"/><mtu size="1500"/><model type="virtio"/></interface>'
    )
    assert interface_xml(port, VifSource("network", "default")) == (
        '<interface type="network"><mac address="fa:16:3e:00:01:02"/>'
        '<source network="default"/><target dev="tap7d1e2f30-00"/>'
        '<model type="virtio"/></interface>'
    )
    assert interface_xml(port, VifSource("ovs", "br-int")) == (
        '<interface type="bridge"><mac address="fa:16:3e:00:01:02"/><source bridge="br-int"/>'
        '<virtualport type="openvswitch">'
        f'<parameters interfaceid="{PORT_RUN1}"/></virtualport>'
        '<target dev="tap7d1e2f30-00"/><model type="virtio"/></interface>'
    )


def test_interfaces_are_read_with_mac_in_lower_case_and_alias() -> None:
    xml = (
        "<domain><devices>"
        "<interface type='user'><mac address='FA:16:3E:00:01:01'/><alias name='net0'/></interface>"
        "<interface type='user'><mac address='fa:16:3e:00:01:02'/></interface>"
        "<interface type='user'/>"
        "</devices></domain>"
    )
    found = interfaces(xml)
    assert [(i.mac, i.alias) for i in found] == [
        ("fa:16:3e:00:01:01", "net0"),
        ("fa:16:3e:00:01:02", None),
    ]
