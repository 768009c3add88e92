"""A domain's NICs against the store: adopt the ones plugged by hand, unplug the ones the
store detached, leave the rest. Pure: the scenario's topology and MACs typed out."""

from __future__ import annotations

from dataclasses import replace

from guestmeta.host import nics
from guestmeta.model import Topology
from tests.libvirt.conftest import (
    PORT_OFF0,
    PORT_RUN0,
    PORT_RUN1,
    PORT_SPARE,
    SERVER_OFF,
    SERVER_RUN,
)


def test_a_free_ports_mac_is_adopted(topology: Topology) -> None:
    plan = nics.plan(topology.index, SERVER_RUN, ["fa:16:3e:00:01:01", "FA:16:3E:00:09:09"])
    assert plan.attach == [PORT_SPARE]
    assert plan.refused == []


def test_a_port_of_another_server_is_never_taken(topology: Topology) -> None:
    plan = nics.plan(topology.index, SERVER_RUN, ["fa:16:3e:00:02:01", "52:54:00:12:34:56"])
    assert plan.attach == []
    assert plan.refused == [
        f"MAC fa:16:3e:00:02:01 is port {PORT_OFF0}, attached to server {SERVER_OFF}"
    ]


def test_a_mac_shared_by_two_free_ports_is_not_guessed(topology: Topology) -> None:
    twin = replace(topology.ports[PORT_SPARE], id="twin-0000", network_id="other-net")
    both = topology.copy()
    both.ports["twin-0000"] = twin
    plan = nics.plan(both.index, SERVER_RUN, ["fa:16:3e:00:09:09"])
    assert plan.attach == []
    assert plan.refused == ["MAC fa:16:3e:00:09:09 matches 2 free ports; attach one by hand"]
    assert PORT_RUN0 not in plan.attach


def test_a_listed_port_the_store_detached_is_unplugged_not_adopted(topology: Topology) -> None:
    # run-eth1 (fa:16:3e:00:01:02) is free in the store, but the element still lists it:
    # the store detached it while the domain could not be reached.
    plan = nics.plan(topology.index, SERVER_RUN, ["fa:16:3e:00:01:02"], listed={PORT_RUN1})
    assert plan.unplug == {"fa:16:3e:00:01:02": [PORT_RUN1]}
    assert plan.attach == []
    # Not listed: plugged by hand, so adopted.
    plan = nics.plan(topology.index, SERVER_RUN, ["fa:16:3e:00:01:02"], listed=set())
    assert plan.attach == [PORT_RUN1]
    assert plan.unplug == {}


def test_a_listed_port_moved_to_another_server_is_unplugged(topology: Topology) -> None:
    plan = nics.plan(topology.index, SERVER_RUN, ["fa:16:3e:00:02:01"], listed={PORT_OFF0})
    assert plan.unplug == {"fa:16:3e:00:02:01": [PORT_OFF0]}
    assert plan.refused == []


def test_the_servers_own_ports_are_left_as_they_are(topology: Topology) -> None:
    plan = nics.plan(topology.index, SERVER_RUN, ["FA:16:3E:00:01:01"], listed={PORT_RUN0})
    assert (plan.attach, plan.unplug, plan.refused) == ([], {}, [])
