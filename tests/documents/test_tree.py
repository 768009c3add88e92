"""The document tree: which files each version holds, and what cloud-init reads from it."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path

import pytest

from guestmeta.documents import RANDOM_SEED_PLACEHOLDER, document_tree, ec2_tree, service_tree
from tests.consumers import cloudinit
from tests.documents.topologies import BY_NAME, KEY, SERVER, SERVER_ID

SEED = bytes(range(256)) * 2
CASE = BY_NAME["two_ports"]

# Written from docs/formats.md §4.1: what each OpenStack version had.
BASE = {"meta_data.json", "user_data"}
WITH_VENDOR = BASE | {"vendor_data.json"}
WITH_NETWORK = WITH_VENDOR | {"network_data.json"}
WITH_VENDOR2 = WITH_NETWORK | {"vendor_data2.json"}
EXPECTED_FILES = {
    "2012-08-10": BASE,
    "2013-04-04": BASE,
    "2013-10-17": WITH_VENDOR,
    "2015-10-15": WITH_NETWORK,
    "2016-06-30": WITH_NETWORK,
    "2016-10-06": WITH_VENDOR2,
    "2017-02-22": WITH_VENDOR2,
    "2018-08-27": WITH_VENDOR2,
    "2020-10-14": WITH_VENDOR2,
    "2025-04-04": WITH_VENDOR2,
    "latest": WITH_VENDOR2,
}


def files_by_dir(tree: dict[str, bytes]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in tree:
        directory, _, name = path.rpartition("/")
        out.setdefault(directory, set()).add(name)
    return out


def test_each_version_holds_exactly_what_it_had() -> None:
    tree = document_tree(CASE.topology, SERVER_ID, random_seed=SEED)
    dirs = files_by_dir(tree)
    expected = {f"openstack/{v}": names for v, names in EXPECTED_FILES.items()}
    expected["ec2/2009-04-04"] = {"meta-data.json", "user-data"}
    expected["ec2/latest"] = {"meta-data.json", "user-data"}
    assert dirs == expected


def test_meta_data_keys_grow_with_the_version() -> None:
    tree = document_tree(CASE.topology, SERVER_ID, random_seed=SEED)
    old = {"uuid", "name", "hostname", "launch_index", "availability_zone"}
    old |= {"public_keys", "keys", "meta"}

    def keys(version: str) -> set[str]:
        return set(json.loads(tree[f"openstack/{version}/meta_data.json"]))

    assert keys("2012-08-10") == old
    assert keys("2013-04-04") == old | {"random_seed"}
    assert keys("2015-10-15") == old | {"random_seed", "project_id"}
    assert keys("2016-06-30") == old | {"random_seed", "project_id", "devices"}
    assert keys("2018-08-27") == keys("2016-06-30")
    assert keys("2020-10-14") == keys("2016-06-30") | {"dedicated_cpus"}
    assert keys("latest") == keys("2020-10-14")


def test_without_ports_or_user_data_those_files_are_absent() -> None:
    topology = CASE.topology.copy()
    topology.ports = {}
    topology.servers = {SERVER_ID: replace(SERVER, user_data=None)}
    tree = document_tree(topology, SERVER_ID, random_seed=SEED)
    names = {path.rpartition("/")[2] for path in tree}
    assert "network_data.json" not in names
    assert "user_data" not in names and "user-data" not in names
    assert json.loads(tree["openstack/latest/vendor_data.json"]) == {}


def test_same_seed_same_bytes_and_the_seed_is_its_base64() -> None:
    one = document_tree(CASE.topology, SERVER_ID, random_seed=SEED)
    two = document_tree(CASE.topology, SERVER_ID, random_seed=SEED)
    assert one == two
    meta = json.loads(one["openstack/latest/meta_data.json"])
    assert base64.b64decode(meta["random_seed"], validate=True) == SEED


def test_without_a_seed_each_tree_gets_512_fresh_bytes() -> None:
    seeds = [
        json.loads(document_tree(CASE.topology, SERVER_ID)["openstack/latest/meta_data.json"])[
            "random_seed"
        ]
        for _ in range(2)
    ]
    assert seeds[0] != seeds[1]
    assert [len(base64.b64decode(s, validate=True)) for s in seeds] == [512, 512]


def test_user_data_is_served_as_raw_bytes() -> None:
    raw = b"\x1f\x8b\x08\x00binary, not text\xff"
    topology = CASE.topology.copy()
    topology.servers = {SERVER_ID: replace(SERVER, user_data=raw)}
    tree = document_tree(topology, SERVER_ID, random_seed=SEED)
    assert tree["openstack/2012-08-10/user_data"] == raw
    assert tree["openstack/latest/user_data"] == raw
    assert tree["ec2/latest/user-data"] == raw


@pytest.mark.consumers("cloud-init")
def test_config_drive_reader_reads_the_tree(tmp_path: Path) -> None:
    for path, data in document_tree(CASE.topology, SERVER_ID, random_seed=SEED).items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    read = cloudinit.read_drive(tmp_path)
    meta = read["metadata"]
    assert meta["uuid"] == SERVER_ID
    assert meta["hostname"] == "matrix-vm.novalocal"  # Nova's default dhcp_domain
    assert meta["public_keys"] == {"ops": KEY.public_key}
    assert meta["name"] == "Matrix VM"
    assert read["userdata"] == b"#cloud-config\nhostname: matrix-vm\n"
    network = read["networkdata"]
    assert [link["ethernet_mac_address"] for link in network["links"]] == [
        "fa:16:3e:00:08:01",
        "fa:16:3e:00:09:01",
    ]
    assert [n["ip_address"] for n in network["networks"]] == ["10.80.0.10", "10.90.0.10"]
    assert read["vendordata"] == {}
    assert read["ec2-metadata"]["instance-id"] == "i-0000002a"
    assert read["ec2-metadata"]["local-ipv4"] == "10.80.0.10"


# -- the EC2 service tree ------------------------------------------------------------------


def test_ec2_tree_lists_only_what_exists_and_everything_it_lists() -> None:
    tree = ec2_tree(CASE.topology, SERVER_ID)
    for path, body in tree.items():
        if not path.endswith("/"):
            continue
        for entry in body.decode().splitlines():
            name = entry.split("=", 1)[0] if "=" in entry else entry
            child = path + name
            assert child in tree or child + "/" in tree, f"{path} lists {entry}, absent"


def test_ec2_tree_keys_and_leaves() -> None:
    tree = ec2_tree(CASE.topology, SERVER_ID)
    v = "2009-04-04"
    assert tree[f"{v}/"] == b"meta-data/\nuser-data"
    assert tree[f"{v}/meta-data/public-keys/"] == b"0=ops"
    assert tree[f"{v}/meta-data/public-keys/0/"] == b"openssh-key"
    assert tree[f"{v}/meta-data/public-keys/0/openssh-key"] == KEY.public_key.encode()
    assert tree[f"{v}/meta-data/instance-id"] == b"i-0000002a"
    assert tree[f"{v}/meta-data/hostname"] == b"matrix-vm.novalocal"
    assert tree[f"{v}/meta-data/local-hostname"] == b"matrix-vm.novalocal"
    assert tree[f"{v}/meta-data/local-ipv4"] == b"10.80.0.10"
    assert tree[f"{v}/meta-data/placement/availability-zone"] == b"az1"
    assert tree[f"{v}/meta-data/block-device-mapping/root"] == b"/dev/vda"
    assert tree[f"{v}/user-data"] == SERVER.user_data
    listing = tree[f"{v}/meta-data/"].decode().splitlines()
    assert listing == sorted(listing)
    assert "placement/" in listing and "public-keys/" in listing
    assert "public-ipv4" not in listing  # no floating IP: not served empty


def test_ec2_versions_grow() -> None:
    tree = ec2_tree(CASE.topology, SERVER_ID)
    assert "1.0/meta-data/local-hostname" not in tree
    assert "2007-01-19/meta-data/local-hostname" in tree
    assert "2008-02-01/meta-data/placement/availability-zone" in tree
    assert "2007-12-15/meta-data/placement/" not in tree
    assert "latest/meta-data/instance-action" in tree
    versions = {path.split("/")[0] for path in tree}
    assert versions == {
        "1.0",
        "2007-01-19",
        "2007-03-01",
        "2007-08-29",
        "2007-10-10",
        "2007-12-15",
        "2008-02-01",
        "2008-09-01",
        "2009-04-04",
        "latest",
    }


# -- the service tree ----------------------------------------------------------------------


def test_service_listings_name_only_what_is_there_but_the_password() -> None:
    tree = service_tree(CASE.topology, SERVER_ID)
    for version, names in EXPECTED_FILES.items():
        listed = tree[f"openstack/{version}"].body.decode().split("\n")
        assert listed[0] == "meta_data.json"
        has_password = version == "latest" or version >= "2013-04-04"
        assert set(listed) == names | ({"password"} if has_password else set())
        assert f"openstack/{version}/password" not in tree  # the service answers it
        for name in names:
            assert f"openstack/{version}/{name}" in tree
    assert tree[""].body.startswith(b"1.0\n2007-01-19\n") and tree[""].body.endswith(b"\nlatest")
    assert tree["openstack"].body.endswith(b"2025-04-04\nlatest")
    assert tree["openstack/latest/meta_data.json"].content_type == "application/json"
    assert tree["openstack/latest/network_data.json"].content_type == "text/plain; charset=UTF-8"


def test_a_fresh_seed_goes_where_the_placeholder_was() -> None:
    document = service_tree(CASE.topology, SERVER_ID)["openstack/latest/meta_data.json"]
    assert document.seed_at is not None
    assert document.body.count(RANDOM_SEED_PLACEHOLDER) == 1
    body = document.with_seed(SEED)
    assert len(body) == len(document.body)
    meta = json.loads(body)
    assert base64.b64decode(meta["random_seed"], validate=True) == SEED
    # Everything else is the drive's document for the same seed, byte for byte.
    drive = document_tree(CASE.topology, SERVER_ID, random_seed=SEED)
    assert body == drive["openstack/latest/meta_data.json"]
    with pytest.raises(ValueError, match="512 bytes, not 3"):
        document.with_seed(b"abc")
    old = service_tree(CASE.topology, SERVER_ID)["openstack/2012-08-10/meta_data.json"]
    assert old.seed_at is None and old.with_seed(SEED) == old.body  # no seed before 2013-04-04
