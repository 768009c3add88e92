"""Which servers a change touches, asked per item, against the plain definition: a server
is touched when an item its documents read (before or after) changed."""

from __future__ import annotations

import random
from dataclasses import replace

from guestmeta.apply import load_document, plan_apply
from guestmeta.model import Topology, diff
from guestmeta.model.affected import dependencies, touched_servers
from tests.conftest import DUMP, DUMP_FILES


def by_definition(old: Topology, new: Topology) -> set[str]:
    changed = {(c.kind, c.id) for c in diff(old, new)}
    return {
        server_id
        for topology in (old, new)
        for server_id in topology.servers
        if changed & set(dependencies(topology, server_id))
    }


def dump() -> Topology:
    documents = [load_document(str(DUMP / name)) for name in DUMP_FILES]
    return plan_apply(Topology(), documents).topology


def edits(topology: Topology, rng: random.Random) -> Topology:
    """One random edit of any kind: fields changed, an item deleted, a port moved."""
    new = topology.copy()
    kind = rng.choice(["networks", "subnets", "ports", "floatingips", "keypairs", "servers"])
    items = new.collection(kind)
    key = rng.choice(sorted(items))
    item = items[key]
    action = rng.random()
    if action < 0.2:
        del items[key]
    elif kind == "ports" and action < 0.6:
        items[key] = replace(item, device_id=rng.choice(sorted(new.servers)))
    elif kind == "floatingips" and action < 0.6:
        items[key] = replace(item, port_id=rng.choice(sorted(new.ports)))
    elif kind == "servers" and action < 0.6:
        items[key] = replace(item, host=rng.choice(["compute-01", "compute-09", None]))
    elif kind == "floatingips":
        items[key] = replace(item, project_id="edited")
    elif kind == "keypairs":
        items[key] = replace(item, public_key=item.public_key + " edited")
    else:
        items[key] = replace(item, name=item.name + "-edited")
    return new


def test_touched_servers_match_the_definition_for_random_edits() -> None:
    base = dump()
    rng = random.Random(14)
    nonempty = 0
    for _ in range(300):
        new = edits(base, rng)
        expected = by_definition(base, new)
        assert touched_servers(base, new, diff(base, new)) == expected
        nonempty += bool(expected)
    assert nonempty > 200  # the edits mostly reach servers, so the comparison means something


def test_a_shared_network_touches_every_server_with_a_port_on_it() -> None:
    base = dump()
    network_id = max(
        base.networks, key=lambda n: sum(p.network_id == n for p in base.ports.values())
    )
    new = base.copy()
    new.networks[network_id] = replace(new.networks[network_id], mtu=1400)
    on_it = {
        base.index.server_of_port(p.id) for p in base.ports.values() if p.network_id == network_id
    } - {""}
    assert len(on_it) > 5
    assert touched_servers(base, new, diff(base, new)) == on_it
