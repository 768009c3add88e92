"""``guestmeta render``: the documents as JSON on stdout, one-line errors on stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guestmeta.cli.main import app
from guestmeta.model import Plan
from guestmeta.store import Store
from tests.documents.topologies import BY_NAME, KEY, SERVER_ID

runner = CliRunner()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The trunk topology of the matrix, plus a server without ports."""
    topology = BY_NAME["trunk"].topology.copy()
    url = f"sqlite:///{tmp_path_factory.mktemp('render') / 'guestmeta.db'}"
    with Store(url) as store:
        store.change(lambda current: Plan.between(current, topology))
    return url


def render(db: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--db", db, "render", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_network_data_is_pretty_json_by_domain_name(db: str) -> None:
    code, out, _ = render(db, "network-data", "instance-0000002a")
    assert code == 0
    document = json.loads(out)
    assert out.startswith('{\n  "links": [')
    assert [link["type"] for link in document["links"]] == ["ovs", "vlan", "vlan"]
    assert [n["ip_address"] for n in document["networks"]] == [
        "10.15.0.10",
        "10.101.0.10",
        "10.102.0.10",
        "2001:db8:102::10",
    ]
    # Same bytes on every run: the key order is stable.
    assert render(db, "network-data", SERVER_ID)[1] == out


def test_meta_data_by_name_and_version(db: str) -> None:
    code, out, _ = render(db, "meta-data", "Matrix VM")
    assert code == 0
    meta = json.loads(out)
    assert (meta["uuid"], meta["hostname"]) == (SERVER_ID, "matrix-vm.novalocal")
    assert meta["public_keys"] == {"ops": KEY.public_key}
    code, out, _ = render(db, "meta-data", SERVER_ID, "--version", "2012-08-10")
    assert code == 0
    assert "random_seed" not in json.loads(out)
    code, _, err = render(db, "meta-data", SERVER_ID, "--version", "2011-01-01")
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "2011-01-01" in err


def test_ec2_meta_data(db: str) -> None:
    code, out, _ = render(db, "ec2-meta-data", SERVER_ID)
    assert code == 0
    data = json.loads(out)
    assert data["instance-id"] == "i-0000002a"
    assert data["local-ipv4"] == "10.15.0.10"


def test_vendor_data_from_a_directory(db: str, tmp_path: Path) -> None:
    (tmp_path / "servers" / SERVER_ID).mkdir(parents=True)
    (tmp_path / "vendor_data.json").write_text('{"cloud-init": "#cloud-config\\n", "a": 1}')
    (tmp_path / "servers" / SERVER_ID / "vendor_data.json").write_text('{"a": 2}')
    code, out, _ = render(db, "vendor-data", SERVER_ID, "--vendor-data", str(tmp_path))
    assert code == 0
    assert json.loads(out) == {"cloud-init": "#cloud-config\n", "a": 2}
    code, out, _ = render(
        db, "vendor-data", SERVER_ID, "--v2", env={"GUESTMETA_VENDOR_DATA": str(tmp_path)}
    )
    # As Nova serves vendor_data2.json: the static vendor data under "static".
    assert (code, json.loads(out)) == (0, {"static": {"cloud-init": "#cloud-config\n", "a": 2}})
    code, out, _ = render(db, "meta-data", SERVER_ID, "--dhcp-domain", "")
    assert json.loads(out)["hostname"] == "matrix-vm"


def test_vendor_data_unset_is_empty_and_bad_json_is_one_line(db: str, tmp_path: Path) -> None:
    code, out, _ = render(db, "vendor-data", SERVER_ID)
    assert (code, json.loads(out)) == (0, {})
    (tmp_path / "vendor_data.json").write_text("{nope")
    code, out, err = render(db, "vendor-data", SERVER_ID, "--vendor-data", str(tmp_path))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "vendor_data.json: not valid JSON" in err


@pytest.mark.parametrize("command", ["network-data", "meta-data", "vendor-data", "ec2-meta-data"])
def test_unknown_server_is_one_line_and_exit_1(db: str, command: str) -> None:
    code, out, err = render(db, command, "no-such-server")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "no-such-server" in err


def test_server_without_ports_has_no_network_data(tmp_path: Path) -> None:
    topology = BY_NAME["static_v4"].topology.copy()
    topology.ports = {}
    url = f"sqlite:///{tmp_path / 'guestmeta.db'}"
    with Store(url) as store:
        store.change(lambda current: Plan.between(current, topology))
    code, out, err = render(url, "network-data", SERVER_ID)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "no ports" in err
