"""``guestmeta ips`` on domain files: formats, look-ups and argument errors."""

from __future__ import annotations

import csv
import io
import json
import re
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from guestmeta.cli.main import app
from tests.inventory.files import element, live, persistent, write

PROJECT = "6f0c3e1b-52a4-4c6e-9d1e-3b7a2c9f8e01"
WEB, WEB_UUID = "instance-00000001", "0e0e0e0e-0000-4000-8000-000000000001"
DB, DB_UUID = "instance-00000002", "0e0e0e0e-0000-4000-8000-000000000002"
BARE, BARE_UUID = "plain-vm", "0e0e0e0e-0000-4000-8000-000000000003"
KEYS = [
    "domain",
    "instance_uuid",
    "instance_name",
    "project_uuid",
    "port_uuid",
    "ip",
    "type",
    "ip_version",
    "state",
]
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def web(port: str, ip: str, kind: str, version: int) -> dict[str, object]:
    return dict(
        zip(
            KEYS, [WEB, WEB_UUID, "web-1", PROJECT, port, ip, kind, version, "running"], strict=True
        )
    )


WEB_ROWS = [
    web("port-a", "10.0.0.5", "fixed", 4),
    web("port-a", "203.0.113.10", "floating", 4),
    web("port-b", "2001:db8::5", "fixed", 6),
]
DB_ROW = dict(
    zip(
        KEYS,
        [DB, DB_UUID, "db-1", PROJECT, "port-c", "10.0.0.6", "fixed", 4, "shutoff"],
        strict=True,
    )
)
BARE_ROW = dict(
    zip(KEYS, [BARE, BARE_UUID, None, None, None, None, None, None, "shutoff"], strict=True)
)


@pytest.fixture
def host(tmp_path: Path) -> list[str]:
    """A host's two directories: a running guest, a shut-off one, one without our element."""
    etc, run = tmp_path / "etc", tmp_path / "run"
    etc.mkdir()
    run.mkdir()
    web_xml = element(
        ports=[
            ("port-a", [("fixed", "10.0.0.5", "4"), ("floating", "203.0.113.10", "4")]),
            ("port-b", [("fixed", "2001:db8::5", "6")]),
        ]
    )
    write(etc, f"{WEB}.xml", persistent(WEB, WEB_UUID, web_xml))
    write(run, f"{WEB}.xml", live(WEB, WEB_UUID, web_xml))
    db_xml = element(name="db-1", ports=[("port-c", [("fixed", "10.0.0.6", "4")])])
    write(etc, f"{DB}.xml", persistent(DB, DB_UUID, db_xml))
    write(etc, f"{BARE}.xml", persistent(BARE, BARE_UUID))
    return ["--xml", str(etc), "--xml", str(run)]


def ips(*args: str) -> Result:
    return CliRunner().invoke(app, ["ips", *args])


def as_json(*args: str, fmt: str = "json") -> object:
    result = ips(*args, "--format", fmt)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_json_is_a_list_of_rows_with_exactly_the_columns(host: list[str]) -> None:
    rows = as_json(*host)
    assert isinstance(rows, list)
    assert all(set(row) == set(KEYS) for row in rows)
    assert rows == [*WEB_ROWS, DB_ROW]


def test_csv_has_a_header_and_one_line_per_address(host: list[str]) -> None:
    result = ips(*host, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    lines = list(csv.reader(io.StringIO(result.stdout)))
    assert lines[0] == KEYS
    assert lines[1:] == [
        [WEB, WEB_UUID, "web-1", PROJECT, "port-a", "10.0.0.5", "fixed", "4", "running"],
        [WEB, WEB_UUID, "web-1", PROJECT, "port-a", "203.0.113.10", "floating", "4", "running"],
        [WEB, WEB_UUID, "web-1", PROJECT, "port-b", "2001:db8::5", "fixed", "6", "running"],
        [DB, DB_UUID, "db-1", PROJECT, "port-c", "10.0.0.6", "fixed", "4", "shutoff"],
    ]


def test_table_names_every_address(host: list[str]) -> None:
    result = ips(*host)
    assert result.exit_code == 0, result.stderr
    for address in ("10.0.0.5", "203.0.113.10", "2001:db8::5", "10.0.0.6"):
        assert address in result.stdout
    assert BARE not in result.stdout


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("203.0.113.10", [WEB_ROWS[1]]),
        ("10.0.0.6", [DB_ROW]),
        ("2001:db8::5", [WEB_ROWS[2]]),
        ("2001:DB8:0:0::0005", [WEB_ROWS[2]]),
    ],
)
def test_ip_finds_the_guest(host: list[str], address: str, expected: list[object]) -> None:
    assert as_json(*host, "--ip", address) == expected


def test_ip_without_a_guest_exits_1(host: list[str]) -> None:
    result = ips(*host, "--ip", "10.0.0.77", "--format", "json")
    assert result.exit_code == 1
    assert result.stderr == "guestmeta: no guest has address 10.0.0.77\n"


@pytest.mark.parametrize("ref", [WEB_UUID, "web-1", WEB])
def test_instance_by_uuid_name_or_domain(host: list[str], ref: str) -> None:
    assert as_json(*host, "--instance", ref) == WEB_ROWS


def test_unknown_instance_exits_1(host: list[str]) -> None:
    result = ips(*host, "--instance", "nope", "--format", "csv")
    assert result.exit_code == 1
    assert result.stderr == "guestmeta: no instance nope\n"


def test_all_lists_domains_without_addresses(host: list[str]) -> None:
    assert as_json(*host, "--all") == [*WEB_ROWS, DB_ROW, BARE_ROW]


def check_file_sd(groups: object) -> None:
    """Prometheus's file_sd schema: a list of {targets: [str], labels: {name: str}}."""
    assert isinstance(groups, list)
    for group in groups:
        assert set(group) == {"targets", "labels"}
        assert group["targets"] and all(isinstance(t, str) for t in group["targets"])
        for name, value in group["labels"].items():
            assert LABEL_NAME.fullmatch(name) and not name.startswith("__")
            assert isinstance(value, str)


def test_prometheus_sd(host: list[str]) -> None:
    groups = as_json(*host, fmt="prometheus-sd")
    check_file_sd(groups)
    assert [g["targets"] for g in groups] == [  # type: ignore[index]
        ["10.0.0.5"],
        ["203.0.113.10"],
        ["2001:db8::5"],
        ["10.0.0.6"],
    ]
    assert groups[2]["labels"] == {  # type: ignore[index]
        "domain": WEB,
        "instance_uuid": WEB_UUID,
        "instance_name": "web-1",
        "project_uuid": PROJECT,
        "port_uuid": "port-b",
        "type": "fixed",
        "ip_version": "6",
    }


def test_prometheus_sd_with_port_to_a_file(host: list[str], tmp_path: Path) -> None:
    out = tmp_path / "sd" / "guests.json"
    out.parent.mkdir()
    result = ips(*host, "--format", "prometheus-sd", "--target-port", "9100", "--output", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    groups = json.loads(out.read_text())
    check_file_sd(groups)
    assert [g["targets"] for g in groups] == [
        ["10.0.0.5:9100"],
        ["203.0.113.10:9100"],
        ["[2001:db8::5]:9100"],
        ["10.0.0.6:9100"],
    ]
    # Written by rename: no temporary file is left beside it.
    assert [p.name for p in out.parent.iterdir()] == ["guests.json"]


def test_csv_to_a_file(host: list[str], tmp_path: Path) -> None:
    out = tmp_path / "ips.csv"
    result = ips(*host, "--format", "csv", "--output", str(out), "--ip", "10.0.0.6")
    assert result.exit_code == 0, result.stderr
    assert out.read_text().splitlines() == [
        ",".join(KEYS),
        f"{DB},{DB_UUID},db-1,{PROJECT},port-c,10.0.0.6,fixed,4,shutoff",
    ]


def test_prometheus_sd_survives_an_address_that_is_not_an_ip(tmp_path: Path) -> None:
    xml = element(ports=[("p1", [("fixed", "10.0.0.5", "4"), ("fixed", "not-an-ip", "4")])])
    write(tmp_path, "odd.xml", persistent("odd", WEB_UUID, xml))
    result = ips("--xml", str(tmp_path), "--format", "prometheus-sd", "--target-port", "9100")
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert ["10.0.0.5:9100"] in [g["targets"] for g in json.loads(result.stdout)]


# -- argument errors: one line on stderr, exit 1 ----------------------------------------


def one_line_error(result: Result, text: str) -> None:
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and text in result.stderr


def test_connect_and_xml_together(host: list[str]) -> None:
    one_line_error(ips("--connect", "test:///default", *host), "not both")


def test_missing_xml_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    one_line_error(ips("--xml", str(missing)), f"--xml {missing}: no such file or directory")


def test_unreachable_connection() -> None:
    one_line_error(ips("--connect", "test:///no/such/file.xml"), "cannot read domains from")


@pytest.mark.parametrize("listen", ["nope", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:http"])
def test_bad_listen(listen: str) -> None:
    result = CliRunner().invoke(app, ["exporter", "--listen", listen])
    one_line_error(result, "--listen")


def test_listen_on_a_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["exporter", "--listen", f"127.0.0.1:{port}"])
    one_line_error(result, f"cannot listen on 127.0.0.1:{port}")
