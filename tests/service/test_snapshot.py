"""Snapshots: only the servers a change touches are built again, and NIC addresses that
host agents report reach meta_data.json's ``devices`` of tagged NICs."""

from __future__ import annotations

import json
from dataclasses import replace

from guestmeta.apply import load_document, plan_apply
from guestmeta.documents import DocumentOptions
from guestmeta.model import Topology
from guestmeta.service.snapshot import build_snapshot

TEXT = """
networks: [{name: lan}]
subnets: [{name: lan-v4, network_id: lan, cidr: 10.5.0.0/24}]
ports:
  - {name: tagged, network_id: lan, mac_address: "fa:16:3e:05:00:01", tag: data,
     fixed_ips: [{ip_address: 10.5.0.10}]}
  - {name: plain, network_id: lan, mac_address: "fa:16:3e:05:00:02",
     fixed_ips: [{ip_address: 10.5.0.11}]}
servers:
  - {name: one, networks: [{port: tagged}]}
  - {name: two, networks: [{port: plain}]}
"""


def topology() -> Topology:
    return plan_apply(Topology(), [load_document("t.yaml", TEXT)]).topology


def ids(top: Topology) -> dict[str, str]:
    return {s.name: s.id for s in top.servers.values()}


def devices(snapshot: object, server_id: str) -> list[dict[str, object]]:
    files = snapshot.files[server_id]  # type: ignore[attr-defined]
    body = files["openstack/latest/meta_data.json"].body
    return json.loads(body)["devices"]  # type: ignore[no-any-return]


def test_a_tagged_nic_is_listed_once_its_address_is_known() -> None:
    top = topology()
    one = ids(top)["one"]
    first = build_snapshot(top, 1, DocumentOptions())
    assert devices(first, one) == []  # Nova's rule: no address, no device
    second = build_snapshot(
        top, 2, DocumentOptions(), first, {"fa:16:3e:05:00:01": ("pci", "0000:00:03.0")}
    )
    assert devices(second, one) == [
        {
            "vf_trusted": False,
            "type": "nic",
            "mac": "fa:16:3e:05:00:01",
            "bus": "pci",
            "address": "0000:00:03.0",
            "tags": ["data"],
        }
    ]


def test_only_the_servers_a_change_touches_are_built_again() -> None:
    top = topology()
    names = ids(top)
    first = build_snapshot(top, 1, DocumentOptions())
    changed = top.copy()
    server = top.servers[names["one"]]
    changed.servers = {**top.servers, server.id: replace(server, metadata={"k": "v"})}
    second = build_snapshot(changed, 2, DocumentOptions(), first)
    assert second.files[names["two"]] is first.files[names["two"]]
    assert second.files[names["one"]] is not first.files[names["one"]]
    body = second.files[names["one"]]["openstack/latest/meta_data.json"].body
    assert json.loads(body)["meta"] == {"k": "v"}
    # A NIC address that moves rebuilds its server only.
    third = build_snapshot(
        changed, 3, DocumentOptions(), second, {"fa:16:3e:05:00:02": ("pci", "0000:00:04.0")}
    )
    assert third.files[names["one"]] is second.files[names["one"]]
    assert third.files[names["two"]] is not second.files[names["two"]]
