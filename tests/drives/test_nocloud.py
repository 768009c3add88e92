"""NoCloud seeds (``cidata``) read by cloud-init, and network-config judged by net-convert."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from guestmeta.documents import network_data
from guestmeta.drives import FileSystem, Layout, build_drive, files_of, read_image
from tests.consumers import cloudinit
from tests.documents.topologies import CASES, KEY, SERVER, SERVER_ID, Case
from tests.drives.conftest import CASE, tree_of, unpack

pytestmark = pytest.mark.consumers("cloud-init")


@pytest.mark.parametrize("fs", list(FileSystem))
def test_cloud_init_reads_the_seed(fs: FileSystem, tmp_path: Path) -> None:
    path = tmp_path / "seed.img"
    path.write_bytes(build_drive(CASE.topology, SERVER_ID, fs=fs, layout=Layout.nocloud))
    got = read_image(path)
    assert got.label.lower() == "cidata"
    read = cloudinit.read_nocloud(unpack(got.files, tmp_path / "seed"))
    # By hand from the matrix server: its id, host name and key.
    assert read["meta-data (parsed)"] == {
        "instance-id": SERVER_ID,
        "local-hostname": "matrix-vm.novalocal",  # Nova's default dhcp_domain
        "public-keys": [KEY.public_key],
    }
    assert read["user-data"] == SERVER.user_data
    assert "vendor-data" not in read  # no vendor data configured
    assert read["network-config (parsed)"]["version"] == 2


def test_a_server_without_user_data_gets_an_empty_file() -> None:
    from dataclasses import replace

    topology = CASE.topology.copy()
    topology.servers = {SERVER_ID: replace(SERVER, user_data=None)}
    from guestmeta.documents import document_tree

    files = files_of(document_tree(topology, SERVER_ID), Layout.nocloud)
    assert files["user-data"] == b""


def _ours_by_name(ours: dict[str, Any], macs: dict[str, str]) -> dict[str, Any]:
    """Our netplan with cloud-init's device names: NICs by MAC, VLANs as PARENT.VID, and
    ``gateway6`` said as the ``::/0`` route it stands for (see network_config.py)."""
    name_of_mac = {mac: name for name, mac in macs.items()}
    rename: dict[str, str] = {}
    for key, body in ours.get("ethernets", {}).items():
        rename[key] = name_of_mac[body["match"]["macaddress"]]
        body.pop("set-name", None)  # a VLAN parent's or bond member's (see network_config.py)
    for key in ours.get("bonds", {}):
        rename[key] = key
    for key, body in ours.get("vlans", {}).items():
        rename[key] = f"{rename[body['link']]}.{body['id']}"
    out: dict[str, Any] = {"version": 2}
    for section in ("ethernets", "bonds", "vlans"):
        if section not in ours:
            continue
        out[section] = {}
        for key, body in ours[section].items():
            body = dict(body)
            if "link" in body:
                body["link"] = rename[body["link"]]
            if "interfaces" in body:
                body["interfaces"] = [rename[i] for i in body["interfaces"]]
            if "gateway6" in body:
                default = {"to": "::/0", "via": body.pop("gateway6")}
                body["routes"] = [*body.get("routes", ()), default]
            out[section][rename[key]] = _routes_sorted(body)
    return out


def _routes_sorted(body: dict[str, Any]) -> dict[str, Any]:
    """Routes are a set to the kernel; gateway6 moves the IPv6 default one to the end."""
    if "routes" in body:
        body["routes"] = sorted(body["routes"], key=lambda r: (r["to"], r["via"]))
    return body


def _theirs(files: dict[str, str]) -> dict[str, Any]:
    doc = yaml.safe_load(files["etc/netplan/50-cloud-init.yaml"])["network"]
    for section in ("ethernets", "bonds", "vlans"):
        for body in doc.get(section, {}).values():
            body.pop("set-name", None)  # cloud-init names the NIC after what it found
            _routes_sorted(body)
    return dict(doc)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_network_config_means_what_network_data_means(case: Case) -> None:
    """net-convert to netplan from network_data.json and from our network-config: the same
    interfaces, addresses, routes, DNS, MTU, bonds and VLANs (our entries are keyed by
    link id and matched by MAC, so they are renamed to cloud-init's names to compare)."""
    document = network_data(case.topology, case.server_id)
    assert document is not None
    text = files_of(tree_of(case), Layout.nocloud)["network-config"].decode()
    from_json, from_yaml = cloudinit.net_convert_many(
        [(document, case.macs, "netplan")]
    ) + cloudinit.net_convert_many([(text, case.macs, "netplan")], kind="yaml")
    assert not isinstance(from_json, Exception), from_json
    assert not isinstance(from_yaml, Exception), from_yaml
    ours = yaml.safe_load(from_yaml["etc/netplan/50-cloud-init.yaml"])["network"]
    assert _ours_by_name(ours, case.macs) == _theirs(from_json)


def _case(name: str) -> Case:
    return next(c for c in CASES if c.name == name)


def test_cloud_init_eni_output_gives_ifupdown_the_v6_gateway_and_creatable_vlans() -> None:
    """Debian 12's cloud-init keeps VLANs only with its eni renderer (ifupdown), so our
    network-config must come out of it in a shape ifupdown acts on:

    - the IPv6 default route as the stanza's ``gateway`` (a ``to: ::/0`` route comes out as
      ``route add -A inet6 ::/64``: no default route at all);
    - each VLAN named ``vlan<id>``: ifupdown's vlan hook ignores a stanza whose name it
      cannot read an id from (``tap0f85516c-23`` would be configured on no device);
    - the VLAN's parent renamed to the name its ``vlan-raw-device`` says.
    Both were found by booting a real guest from a NoCloud drive (tests/e2e).
    """
    jobs = []
    for name in ("v4_v6_static", "trunk"):
        case = _case(name)
        text = files_of(tree_of(case), Layout.nocloud)["network-config"].decode()
        jobs.append((text, case.macs, "eni"))
    static, trunk = cloudinit.net_convert_many(jobs, kind="yaml")
    assert not isinstance(static, Exception) and not isinstance(trunk, Exception)
    eni = static["etc/network/interfaces.d/50-cloud-init"]
    assert "gateway 2001:db8:20::1" in eni
    assert "::/64 gw" not in eni
    eni = trunk["etc/network/interfaces.d/50-cloud-init"]
    # By hand from topologies.trunk(): sub-ports on VLANs 101 and 102 of the parent port.
    assert "iface vlan101 inet static" in eni and "iface vlan102 inet static" in eni
    parents = re.findall(r"vlan-raw-device (\S+)", eni)
    assert len(parents) == 2 and len(set(parents)) == 1
    assert f"iface {parents[0]} inet static\n    address 10.15.0.10/24" in eni
    # ... and the guest's NIC with the parent's MAC gets that very name: cloud-init renames
    # an entry to the NIC's own name but not the VLAN's reference to it.
    rules = trunk["etc/udev/rules.d/70-persistent-net.rules"]
    assert f'ATTR{{address}}=="fa:16:3e:00:0f:01", NAME="{parents[0]}"' in rules
