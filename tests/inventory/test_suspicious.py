"""Suspicious entries in a directory of domain XML: each one is reported in one exact line
and left out (or, for duplicates, listed and reported), the good domain is still listed,
and ``guestmeta ips --strict`` fails on every one.

Each case writes a directory holding one good domain (``gmtest-good``) and the hostile
entry, then scans it through the library and through the real command.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from guestmeta.inventory.xmlfiles import scan_files
from tests.inventory.files import element, live, persistent, write

GUESTMETA = str(Path(sys.executable).with_name("guestmeta"))
UUID = "11111111-2222-4333-8444-555555555555"
OTHER = "99999999-9999-4999-8999-999999999999"
PROJECT = "6f0c3e1b-52a4-4c6e-9d1e-3b7a2c9f8e01"
PORT = "aaaaaaaa-0000-4000-8000-000000000001"
GOOD_ELEMENT = element(ports=[(PORT, [("fixed", "10.0.0.5", "4")])])
GOOD_CSV = f"gmtest-good,{UUID},web-1,{PROJECT},{PORT},10.0.0.5,fixed,4,"


def with_address(address: str, version: str = "4") -> str:
    return element(ports=[("p-bad", [("fixed", address, version)])])


@dataclass(frozen=True)
class Case:
    make: Callable[[Path], None]  # writes the hostile entry into the directory
    reasons: tuple[str, ...]  # file name: reason, as the scan reports each


def bad_file(case_id: str, name: str, text: str, *reasons: str) -> Any:
    return pytest.param(Case(lambda d: write(d, name, text), reasons), id=case_id)


def entry(case_id: str, make: Callable[[Path], None], *reasons: str) -> Any:
    return pytest.param(Case(make, reasons), id=case_id)


def _fifo(directory: Path) -> None:
    os.mkfifo(directory / "gmtest-fifo.xml")


def _symlink_out(directory: Path) -> None:
    outside = directory.parent / "outside"
    outside.mkdir()
    write(outside, "gmtest-out.xml", persistent("gmtest-out", OTHER, GOOD_ELEMENT))
    (directory / "gmtest-out.xml").symlink_to(outside / "gmtest-out.xml")


def _device(directory: Path) -> None:
    (directory / "gmtest-zero.xml").symlink_to("/dev/zero")


HOSTILE_DOMAIN = persistent("gmtest-evil", OTHER, with_address("6.6.6.6"))
BODY = HOSTILE_DOMAIN.split("-->\n\n", 1)[1]

CASES = [
    bad_file(
        "doctype-after-a-comment-naming-dom",
        "gmtest-evil.xml",
        '<!-- <dom --><!DOCTYPE domain [<!ENTITY a "6.6.6.6">]>\n' + BODY.replace("6.6.6.6", "&a;"),
        "gmtest-evil.xml: <!DOCTYPE declarations are not accepted in domain XML",
    ),
    bad_file(
        "doctype-after-a-processing-instruction-naming-dom",
        "gmtest-evil.xml",
        '<?x <dom ?><!DOCTYPE domain [<!ENTITY a "6.6.6.6">]>\n' + BODY.replace("6.6.6.6", "&a;"),
        "gmtest-evil.xml: <!DOCTYPE declarations are not accepted in domain XML",
    ),
    bad_file(
        "attlist-default",
        "gmtest-evil.xml",
        '<!-- <dom --><!DOCTYPE domain [<!ATTLIST nova:ip address CDATA "6.6.6.6">]>\n'
        + BODY.replace(' address="6.6.6.6"', ""),
        "gmtest-evil.xml: <!DOCTYPE declarations are not accepted in domain XML",
    ),
    bad_file(
        "utf16-spelled-doctype",
        "gmtest-evil.xml",
        "",  # replaced below: written as bytes
        "gmtest-evil.xml: malformed XML: Start tag expected, '<' not found, line 1, column 1 "
        "(<string>, line 1)",
    ),
    bad_file(
        "address-out-of-range",
        "gmtest-evil.xml",
        persistent("gmtest-evil", OTHER, with_address("999.1.1.1")),
        "gmtest-evil.xml: port p-bad: '999.1.1.1' is not an IP address; address skipped",
    ),
    bad_file(
        "address-not-v6",
        "gmtest-evil.xml",
        persistent("gmtest-evil", OTHER, with_address("::g", "6")),
        "gmtest-evil.xml: port p-bad: '::g' is not an IP address; address skipped",
    ),
    bad_file(
        "address-with-prefix",
        "gmtest-evil.xml",
        persistent("gmtest-evil", OTHER, with_address("10.0.0.4/24")),
        "gmtest-evil.xml: port p-bad: '10.0.0.4/24' is not an IP address; address skipped",
    ),
    bad_file(
        "two-addresses-and-a-newline",
        "gmtest-evil.xml",
        persistent("gmtest-evil", OTHER, with_address("10.0.0.4&#10;10.0.0.5")),
        "gmtest-evil.xml: port p-bad: '10.0.0.4\\n10.0.0.5' is not an IP address; address skipped",
    ),
    bad_file(
        "address-with-zone",
        "gmtest-evil.xml",
        persistent("gmtest-evil", OTHER, with_address("fe80::1%eth0", "6")),
        "gmtest-evil.xml: port p-bad: 'fe80::1%eth0' is not an IP address; address skipped",
    ),
    bad_file(
        "same-uuid-as-the-good-domain",
        "gmtest-twin.xml",
        persistent("gmtest-twin", UUID, element(ports=[])),
        "gmtest-twin.xml: uuid {uuid} is also in {directory}/gmtest-good.xml",
    ),
    bad_file(
        "file-named-after-another-domain",
        "gmtest-other.xml",
        persistent("gmtest-evil", OTHER, GOOD_ELEMENT),
        "gmtest-other.xml: holds domain 'gmtest-evil', not its file name",
    ),
    bad_file(
        "uuid-that-is-not-one",
        "gmtest-evil.xml",
        persistent("gmtest-evil", "not-a-uuid", GOOD_ELEMENT),
        "gmtest-evil.xml: uuid 'not-a-uuid' is not a UUID",
    ),
    entry("fifo", _fifo, "gmtest-fifo.xml: a FIFO, not a file"),
    entry("device", _device, "gmtest-zero.xml: symlink to /dev/zero, outside the directory"),
    entry(
        "symlink-out-of-the-directory",
        _symlink_out,
        "gmtest-out.xml: symlink to {outside}/gmtest-out.xml, outside the directory",
    ),
]


def setup_case(case: Case, tmp_path: Path, case_id: str) -> Path:
    directory = tmp_path / "qemu"
    directory.mkdir()
    write(directory, "gmtest-good.xml", persistent("gmtest-good", UUID, GOOD_ELEMENT))
    if case_id == "utf16-spelled-doctype":
        text = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE domain [<!ENTITY a "6.6.6.6">]>'
        text += BODY.replace("6.6.6.6", "&a;")
        (directory / "gmtest-evil.xml").write_bytes(text.encode("utf-16"))
    else:
        case.make(directory)
    return directory


def reasons(case: Case, tmp_path: Path, directory: Path) -> list[str]:
    outside = tmp_path / "outside"
    return [
        f"{directory}/{r.format(outside=outside, uuid=UUID, directory=directory)}"
        for r in case.reasons
    ]


@pytest.mark.parametrize("case", CASES)
def test_scan_reports_and_leaves_out(
    case: Case, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    case_id = request.node.callspec.id
    directory = setup_case(case, tmp_path, case_id)
    scan = scan_files([directory])
    assert [str(f) for f in scan.failures] == reasons(case, tmp_path, directory)
    rows = scan.rows()
    assert all(row.ip in ("10.0.0.5", None) for row in rows), rows
    assert [r.domain for r in rows if r.ip] == ["gmtest-good"]


@pytest.mark.parametrize("case", CASES)
def test_cli_reports_each_and_strict_fails(
    case: Case, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    case_id = request.node.callspec.id
    directory = setup_case(case, tmp_path, case_id)
    for strict, code in ((False, 0), (True, 1)):
        done = subprocess.run(
            [GUESTMETA, "ips", "--xml", str(directory), "--format", "csv"]
            + (["--strict"] if strict else []),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == code, done.stderr
        assert done.stdout.splitlines()[1:] == [GOOD_CSV]
        assert done.stderr.splitlines() == [
            f"guestmeta: skipped {r}" for r in reasons(case, tmp_path, directory)
        ]


def test_live_file_of_another_name_does_not_hide_a_definition(tmp_path: Path) -> None:
    """A live file whose domain differs from its file name is reported, not trusted."""
    etc, run = tmp_path / "etc", tmp_path / "run"
    etc.mkdir()
    run.mkdir()
    write(etc, "gmtest-good.xml", persistent("gmtest-good", UUID, GOOD_ELEMENT))
    write(run, "gmtest-good.xml", live("gmtest-evil", OTHER, with_address("6.6.6.6")))
    scan = scan_files([etc, run])
    assert [str(f) for f in scan.failures] == [
        f"{run}/gmtest-good.xml: holds domain 'gmtest-evil', not its file name"
    ]
    assert [(r.domain, r.ip, r.state) for r in scan.rows()] == [("gmtest-good", "10.0.0.5", None)]


def test_fifo_named_on_its_own_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.xml"
    os.mkfifo(fifo)
    scan = scan_files([fifo, Path("/dev/zero")])
    assert [str(f) for f in scan.failures] == [
        f"{fifo}: a FIFO, not a file",
        "/dev/zero: a device, not a file",
    ]


def test_table_prints_names_as_text_not_markup(tmp_path: Path) -> None:
    """A ``[/]`` in a name was read as rich markup and ended ``ips`` with a traceback."""
    write(
        tmp_path,
        "gmtest-markup.xml",
        persistent("gmtest-markup", UUID, element(name="[/]&#10;[red]x", ports=[])),
    )
    done = subprocess.run(
        [GUESTMETA, "ips", "--xml", str(tmp_path), "--all"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    (row,) = (line for line in done.stdout.splitlines() if "gmtest-markup" in line)
    assert "[/]\\n[red]x" in row


def test_same_name_in_two_directories_is_listed_twice_and_reported(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    write(one, "gmtest-good.xml", persistent("gmtest-good", UUID, GOOD_ELEMENT))
    write(two, "gmtest-good.xml", persistent("gmtest-good", OTHER, with_address("10.0.0.9")))
    scan = scan_files([one, two])
    assert [str(f) for f in scan.failures] == [
        f"{two}/gmtest-good.xml: domain name gmtest-good is also in {one}/gmtest-good.xml"
    ]
    assert sorted((r.instance_uuid, r.ip) for r in scan.rows()) == [
        (UUID, "10.0.0.5"),
        (OTHER, "10.0.0.9"),
    ]
