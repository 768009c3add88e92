"""meta_data.json, EC2 meta-data and vendor data, checked against hand-written values."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path

import pytest

from guestmeta.documents import (
    DeviceAddress,
    DocumentOptions,
    VendorData,
    VendorDataError,
    ec2_meta_data,
    meta_data,
)
from guestmeta.model import FloatingIP
from tests.documents.topologies import BY_NAME, KEY, SERVER, SERVER_ID

CASE = BY_NAME["two_ports"]


def test_every_key_of_meta_data_in_novas_order() -> None:
    """Keys, values and order as Nova's app gives them for this server (checked against
    Nova's own output, tests/documents/test_nova_parity.py): no NIC is tagged, so
    ``devices`` is empty; an unpinned guest has no dedicated CPUs."""
    seed = b"\x00" * 512
    meta = meta_data(CASE.topology, SERVER_ID, random_seed=seed)
    assert list(meta.items()) == [
        ("uuid", SERVER_ID),
        ("meta", {"role": "matrix"}),
        ("public_keys", {"ops": KEY.public_key}),
        ("keys", [{"name": "ops", "type": "ssh", "data": KEY.public_key}]),
        ("hostname", "matrix-vm.novalocal"),
        ("name", "Matrix VM"),
        ("launch_index", 0),
        ("availability_zone", "az1"),
        ("random_seed", "A" * 683 + "="),  # 512 zero bytes: 170 x AAAA, then AAA=
        ("project_id", "7e570000000040008000000000000001"),
        ("devices", []),
        ("dedicated_cpus", []),
    ]
    assert base64.b64decode(meta["random_seed"]) == seed


def test_without_keypair_metadata_hostname_or_zone() -> None:
    topology = CASE.topology.copy()
    topology.servers = {
        SERVER_ID: replace(SERVER, key_name=None, hostname="", availability_zone=None, metadata={})
    }
    meta = meta_data(topology, SERVER_ID, random_seed=b"x")
    # Nova leaves out what there is none of, rather than serving it empty.
    assert not {"public_keys", "keys", "meta"} & set(meta)
    assert meta["hostname"] == "matrix-vm.novalocal"  # from "Matrix VM", as Nova sanitizes it
    assert meta["availability_zone"] == "nova"
    bare = meta_data(topology, SERVER_ID, options=DocumentOptions(dhcp_domain=""))
    assert bare["hostname"] == "matrix-vm"


def test_a_pinned_guest_has_no_dedicated_cpus_key() -> None:
    """Which host CPUs it got is libvirt's choice: the store cannot say, so nothing is said."""
    topology = CASE.topology.copy()
    flavor = replace(SERVER.flavor, extra_specs={"hw:cpu_policy": "dedicated"})
    topology.servers = {SERVER_ID: replace(SERVER, flavor=flavor)}
    assert "dedicated_cpus" not in meta_data(topology, SERVER_ID)


def test_devices_list_tagged_and_vlan_nics_with_their_address() -> None:
    topology = CASE.topology.copy()
    first, second = topology.index.ports(SERVER_ID)
    topology.ports[first.id] = replace(first, tag="db")
    topology.ports[second.id] = replace(second, vlan=120)
    topology = topology.copy()  # a fresh index over the replaced ports
    where = {
        first.mac_address: DeviceAddress("pci", "0000:00:03.0"),
        second.mac_address: DeviceAddress("pci", "0000:00:04.0"),
    }

    def devices(version: str, addresses: dict[str, DeviceAddress] | None = where) -> object:
        return meta_data(topology, SERVER_ID, version, addresses=addresses)["devices"]

    tagged = {"type": "nic", "mac": first.mac_address, "bus": "pci", "address": "0000:00:03.0"}
    # 2016-06-30: the tagged NIC only; an untagged VLAN NIC shows once "vlan" exists.
    assert devices("2016-06-30") == [tagged | {"tags": ["db"]}]
    vlan = {"vlan": 120, "type": "nic", "mac": second.mac_address, "bus": "pci"}
    vlan["address"] = "0000:00:04.0"
    assert devices("2017-02-22") == [tagged | {"tags": ["db"]}, vlan]
    latest = devices("latest")
    assert latest == [
        {"vf_trusted": False, **tagged, "tags": ["db"]},
        {"vlan": 120, "vf_trusted": False, **{k: v for k, v in vlan.items() if k != "vlan"}},
    ]
    assert [list(d) for d in latest] == [  # type: ignore[union-attr]
        ["vf_trusted", "type", "mac", "bus", "address", "tags"],
        ["vlan", "vf_trusted", "type", "mac", "bus", "address"],
    ]
    # Without an address from the domain, a NIC is left out rather than shown as "none".
    assert devices("latest", None) == []


def test_ec2_meta_data_with_floating_ip() -> None:
    topology = CASE.topology.copy()
    port_id = next(iter(topology.index.ports(SERVER_ID))).id
    topology.floatingips = {
        "f1": FloatingIP("f1", "203.0.113.50", port_id=port_id, fixed_ip_address="10.80.0.10")
    }
    data = ec2_meta_data(topology, SERVER_ID, "2009-04-04")
    assert data["public-ipv4"] == "203.0.113.50"
    assert data["local-ipv4"] == "10.80.0.10"
    assert data["ami-id"] == "ami-1ca9e000"
    assert data["ami-manifest-path"] == "FIXME"  # Nova's value
    assert data["security-groups"] == ["default"]  # none in the API body: Neutron's default
    assert data["public-keys"] == {"0": {"_name": "0=ops", "openssh-key": KEY.public_key}}
    old = ec2_meta_data(topology, SERVER_ID, "1.0")
    assert "public-ipv4" not in old and "instance-type" not in old and "placement" not in old


def test_ec2_reservation_and_groups_come_from_the_api_body() -> None:
    topology = CASE.topology.copy()
    topology.servers = {
        SERVER_ID: replace(SERVER, reservation_id="r-0b9d9f06", security_groups=("web", "ssh"))
    }
    data = ec2_meta_data(topology, SERVER_ID)
    assert data["reservation-id"] == "r-0b9d9f06"
    assert data["security-groups"] == ["web", "ssh"]
    derived = ec2_meta_data(CASE.topology, SERVER_ID)["reservation-id"]
    assert derived.startswith("r-") and len(derived) == 10


# -- vendor data ---------------------------------------------------------------------------


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_nothing_configured_gives_empty_objects() -> None:
    assert VendorData().for_server("p", "s") == {"vendor_data.json": {}, "vendor_data2.json": {}}
    assert VendorData.from_dir(None).root is None


def test_server_overrides_project_overrides_global(tmp_path: Path) -> None:
    write(tmp_path / "vendor_data.json", '{"a": "global", "b": "global", "c": "global"}')
    write(tmp_path / "projects/p1/vendor_data.json", '{"b": "project", "c": "project"}')
    write(tmp_path / "servers/s1/vendor_data.json", '{"c": {"deep": "server"}}')
    write(tmp_path / "servers/s1/vendor_data2.json", '{"cloud-init": {"x": 1}}')
    vendor = VendorData.from_dir(tmp_path)
    assert vendor.for_server("p1", "s1") == {
        "vendor_data.json": {"a": "global", "b": "project", "c": {"deep": "server"}},
        "vendor_data2.json": {"cloud-init": {"x": 1}},
    }
    # Another project's server sees only the global file.
    assert vendor.for_server("p2", "s2")["vendor_data.json"] == {
        "a": "global",
        "b": "global",
        "c": "global",
    }
    # Ids never climb out of the directory.
    assert vendor.for_server("../servers/s1", "..")["vendor_data.json"]["c"] == "global"


def test_missing_files_are_not_errors(tmp_path: Path) -> None:
    write(tmp_path / "projects/p1/vendor_data2.json", '{"t": {}}')
    vendor = VendorData.from_dir(tmp_path)
    assert vendor.for_server("p1", "s1") == {
        "vendor_data.json": {},
        "vendor_data2.json": {"t": {}},
    }


def test_malformed_json_names_the_file_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "projects/p1/vendor_data.json"
    write(bad, '{"cloud-init": "#cloud-config",\n}')
    with pytest.raises(VendorDataError) as info:
        VendorData.from_dir(tmp_path).for_server("p1", "s1")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{bad}: not valid JSON")
    assert "line 2" in message


def test_a_json_list_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "vendor_data2.json", "[1, 2]")
    with pytest.raises(VendorDataError, match="must hold a JSON object, not list"):
        VendorData.from_dir(tmp_path).for_server(None, "s1")


def test_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(VendorDataError, match="does not exist"):
        VendorData.from_dir(tmp_path / "nope")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(tmp_path: Path, constant: str) -> None:
    """Python reads them; guests' strict JSON parsers would refuse the whole document."""
    bad = tmp_path / "vendor_data.json"
    write(bad, '{"cloud-init": "#cloud-config", "x": ' + constant + "}")
    with pytest.raises(VendorDataError) as info:
        VendorData.from_dir(tmp_path).for_server(None, "s1")
    assert str(info.value) == f"{bad}: not valid JSON: {constant} is not a JSON value"


def test_a_file_where_a_directory_is_expected_counts_as_missing(tmp_path: Path) -> None:
    write(tmp_path / "projects", "not a directory")
    assert VendorData.from_dir(tmp_path).for_server("p1", "s1") == {
        "vendor_data.json": {},
        "vendor_data2.json": {},
    }


def test_a_floating_ipv6_is_never_public_ipv4() -> None:
    topology = CASE.topology.copy()
    port_id = next(iter(topology.index.ports(SERVER_ID))).id
    topology.floatingips = {
        "f6": FloatingIP("f6", "2001:db8:ff::1", port_id=port_id),
    }
    data = ec2_meta_data(topology, SERVER_ID, "2009-04-04")
    assert data["local-ipv4"] == "10.80.0.10"
    assert "public-ipv4" not in data
