"""Broken, truncated, huge and hostile domain files: good files still read, bad ones
reported in one line each, nothing expanded, fetched or crashed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from guestmeta.inventory.rows import Row, select
from guestmeta.inventory.xmlfiles import FileError, read_domain, scan_files
from tests.inventory.files import NS_1_1, element, live, persistent, write

GUESTMETA = str(Path(sys.executable).with_name("guestmeta"))
UUID = "11111111-2222-4333-8444-555555555555"
PROJECT = "6f0c3e1b-52a4-4c6e-9d1e-3b7a2c9f8e01"
PORT = "aaaaaaaa-0000-4000-8000-000000000001"
SECRET = "S3CRET-do-not-read-7f1c"
GOOD_ELEMENT = element(ports=[(PORT, [("fixed", "10.0.0.5", "4")])])


def good_row(domain: str = "gmtest-good", state: str | None = None) -> Row:
    return Row(domain, UUID, "web-1", PROJECT, PORT, "10.0.0.5", "fixed", 4, state)


def read(text: str) -> list[Row]:
    return read_domain(text.encode()).rows()


def lol_doctype(extra: str = "") -> str:
    """The billion laughs: each entity is ten of the one before."""
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    return f"<!DOCTYPE domain [{''.join(entities)}{extra}]>\n"


# -- truncated and malformed ----------------------------------------------------------


def test_cut_in_the_middle_of_metadata_is_an_error() -> None:
    text = persistent("gmtest-cut", UUID, GOOD_ELEMENT)
    cut = text[: text.index('address="10.0.0.5"')]
    with pytest.raises(FileError, match="malformed XML"):
        read(cut)


@pytest.mark.parametrize("wrap", ["persistent", "live"])
def test_cut_after_metadata_is_an_error(wrap: str) -> None:
    # The metadata is whole, so a reader that stops at </metadata> would not notice.
    text = (persistent if wrap == "persistent" else live)("gmtest-cut", UUID, GOOD_ELEMENT)
    cut = text[: text.index("</metadata>") + len("</metadata>") + 40]
    with pytest.raises(FileError, match="malformed XML"):
        read(cut)


def test_live_file_cut_after_its_domain_is_an_error() -> None:
    text = live("gmtest-cut", UUID, GOOD_ELEMENT)
    with pytest.raises(FileError, match="malformed XML"):
        read(text[: text.rindex("</domstatus>")])


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "malformed XML"),
        ("not xml at all", "malformed XML"),
        ("<network><name>default</name></network>", "not a libvirt domain"),
        ("<domstatus state='running'><taint/></domstatus>", "without a <domain>"),
        ("<domain type='qemu'><uuid>" + UUID + "</uuid></domain>", "without <name>"),
        ("<domain type='qemu'><name>x</name><uuid>" + UUID + "</uuid>", "malformed XML"),
    ],
)
def test_not_a_readable_domain(text: str, reason: str) -> None:
    with pytest.raises(FileError, match=reason) as info:
        read(text)
    assert "\n" not in str(info.value)


def test_odd_element_parts_do_not_fail_the_domain() -> None:
    # A port without addresses, an ip without an address, and unknown children.
    xml = (
        f'<nova:instance xmlns:nova="{NS_1_1}"><nova:name>web-1</nova:name>'
        f'<nova:owner><nova:project uuid="{PROJECT}"/></nova:owner><nova:future/>'
        '<nova:ports><nova:port uuid="p-empty"/><nova:port uuid="p-odd"><nova:ip type="fixed"/>'
        '<nova:ip type="fixed" address="10.0.0.6" ipVersion="four"/><other:x xmlns:other="urn:o"/>'
        "</nova:port></nova:ports></nova:instance>"
    )
    assert read(persistent("gmtest-odd", UUID, xml)) == [
        Row("gmtest-odd", UUID, "web-1", PROJECT, "p-odd", "10.0.0.6", "fixed", 4, None)
    ]


# -- huge ---------------------------------------------------------------------------


def test_ten_thousand_ports_all_listed() -> None:
    ports = [
        (f"port-{i:05d}", [("fixed", f"10.{i // 256 % 256}.{i % 256}.1", "4")])
        for i in range(10_000)
    ]
    rows = read(live("gmtest-huge", UUID, element(ports=ports)))
    assert len(rows) == 10_000
    assert {(row.port_uuid, row.ip) for row in rows} == {(port, ips[0][1]) for port, ips in ports}
    assert rows[0].state == "running" and rows[-1].port_uuid == "port-09999"


# -- hostile ------------------------------------------------------------------------


@pytest.mark.parametrize("place", ["name", "address"])
def test_billion_laughs_is_not_expanded(place: str) -> None:
    name = "&lol9;" if place == "name" else "web-1"
    address = "&lol9;" if place == "address" else "10.0.0.5"
    xml = element(name=name, ports=[(PORT, [("fixed", address, "4")])])
    started = time.monotonic()
    try:
        rows = read(lol_doctype() + persistent("gmtest-lol", UUID, xml).split("-->\n\n", 1)[1])
    except FileError:
        rows = []
    assert time.monotonic() - started < 1.0
    # A billion "lol"s is 3 GB; even one level of expansion would show as "lollol".
    assert all("lollol" not in str(row) for row in rows)


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE domain [<!ENTITY xxe SYSTEM "file://{secret}">]>',
        '<!DOCTYPE domain [<!ENTITY % p SYSTEM "file://{secret}"> %p;]>',
        '<!DOCTYPE domain SYSTEM "file://{secret}">',
    ],
)
def test_external_entities_are_never_read(doctype: str, tmp_path: Path) -> None:
    secret = write(tmp_path, "secret.txt", SECRET)
    xml = element(name="&xxe;" if "xxe" in doctype else "web-1", ports=[(PORT, [])])
    text = doctype.format(secret=secret) + "\n" + persistent("gmtest-xxe", UUID, xml)
    bad = write(tmp_path, "xxe.xml", text)
    scan = scan_files([bad])
    assert SECRET not in repr(scan)
    assert all(dom.name == "gmtest-xxe" for dom in scan.domains)


def test_deep_nesting_fails_cleanly() -> None:
    deep = "<x:a xmlns:x='urn:example:app'>" + "<x:a>" * 100_000 + "</x:a>" * 100_001
    with pytest.raises(FileError, match="malformed XML") as info:
        read(persistent("gmtest-deep", UUID, deep + GOOD_ELEMENT))
    assert "\n" not in str(info.value)


def test_fake_domain_in_a_comment_before_the_real_one() -> None:
    fake = persistent(
        "gmtest-fake",
        "99999999-9999-4999-8999-999999999999",
        element(name="evil", ports=[("p-evil", [("fixed", "6.6.6.6", "4")])]),
    )
    fake = fake.split("-->\n\n", 1)[1]
    for wrap in (persistent, live):
        real = wrap("gmtest-good", UUID, GOOD_ELEMENT)
        text = f"<!-- {fake} -->\n{real}"
        state = "running" if wrap is live else None
        assert read(text) == [good_row(state=state)]
    # Between <domstatus> and <domain>, too.
    text = live("gmtest-good", UUID, GOOD_ELEMENT).replace(
        "<taint flag='high-privileges'/>", f"<!-- {fake} -->"
    )
    assert read(text) == [good_row(state="running")]


@pytest.mark.parametrize(
    "before",
    [
        "<!-- </metadata> -->",
        "<app:note xmlns:app='urn:example:app'><![CDATA[</metadata>]]></app:note>",
        "<app:note xmlns:app='urn:example:app'><metadata><x/></metadata></app:note>",
        "<app:note xmlns:app='urn:example:app'><metadata></metadata><metadata/></app:note>",
    ],
)
@pytest.mark.parametrize("wrap", ["persistent", "live"])
def test_metadata_end_tag_that_is_not_the_end(before: str, wrap: str) -> None:
    # Our element comes after something that contains "</metadata>" but does not end it.
    make = persistent if wrap == "persistent" else live
    state = "running" if wrap == "live" else None
    assert read(make("gmtest-good", UUID, before + GOOD_ELEMENT)) == [good_row(state=state)]


def test_metadata_end_tag_in_a_comment_before_metadata() -> None:
    text = persistent("gmtest-good", UUID, GOOD_ELEMENT).replace(
        "<metadata>", "<!-- </metadata> --><description>a &lt;/metadata&gt;</description><metadata>"
    )
    assert read(text) == [good_row()]


def test_mixed_case_ipv6_is_found_by_value() -> None:
    xml = element(ports=[(PORT, [("fixed", "2001:DB8:0:0::A", "6")])])
    rows = read(persistent("gmtest-v6", UUID, xml))
    assert len(rows) == 1 and rows[0].ip_version == 6
    for wanted in ("2001:db8::a", "2001:0DB8:0000::000a", "2001:db8:0:0:0:0:0:a"):
        assert select(rows, ip=wanted) == rows
    assert select(rows, ip="2001:db8::b") == []


# -- directories mixing good and bad files ---------------------------------------------


@pytest.fixture
def mixed(tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    secret = write(tmp_path, "secret.txt", SECRET)
    good = persistent("gmtest-good", UUID, GOOD_ELEMENT)
    hostile = element(name="&xxe;", ports=[(PORT, [("fixed", "&lol9;", "4")])])
    directory = tmp_path / "qemu"
    directory.mkdir()
    write(directory, "gmtest-good.xml", good)
    bad = {
        "truncated": write(directory, "truncated.xml", good[: good.index("</metadata>") + 20]),
        "malformed": write(directory, "malformed.xml", "<domain><name>x</nam></domain>"),
        "empty": write(directory, "empty.xml", ""),
        "laughs": write(
            directory,
            "laughs.xml",
            lol_doctype(f'<!ENTITY xxe SYSTEM "file://{secret}">')
            + persistent("gmtest-lol", UUID.replace("1", "7"), hostile),
        ),
        "deep": write(
            directory,
            "deep.xml",
            persistent("gmtest-deep", UUID, "<x:a xmlns:x='urn:x'>" * 100_000),
        ),
    }
    return directory, bad


def test_directory_with_bad_files_still_gives_the_good_rows(
    mixed: tuple[Path, dict[str, Path]],
) -> None:
    directory, bad = mixed
    scan = scan_files([directory])
    assert scan.rows() == [good_row()]
    assert sorted(f.source for f in scan.failures) == sorted(str(p) for p in bad.values())
    for failure in scan.failures:
        assert "\n" not in str(failure) and failure.reason
        assert SECRET not in str(failure)


def test_cli_skips_bad_files_and_exits_0_unless_strict(
    mixed: tuple[Path, dict[str, Path]],
) -> None:
    directory, bad = mixed
    shown = subprocess.run(
        [GUESTMETA, "ips", "--xml", str(directory), "--format", "csv"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[1:] == [
        f"gmtest-good,{UUID},web-1,{PROJECT},{PORT},10.0.0.5,fixed,4,"
    ]
    skipped = shown.stderr.splitlines()
    assert len(skipped) == len(bad)
    for path in bad.values():
        assert sum(line.startswith(f"guestmeta: skipped {path}: ") for line in skipped) == 1
    assert SECRET not in shown.stdout + shown.stderr

    strict = subprocess.run(
        [GUESTMETA, "ips", "--xml", str(directory), "--format", "csv", "--strict"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert strict.returncode == 1
    assert strict.stdout == shown.stdout
    assert len(strict.stderr.splitlines()) == len(bad)


# -- known bugs: each test states what should happen -----------------------------------

FAKE = (
    "<domain type='qemu'><name>gmtest-fake</name>"
    "<uuid>99999999-9999-4999-8999-999999999999</uuid><metadata>"
    + element(name="evil", ports=[("p-evil", [("fixed", "6.6.6.6", "4")])])
    + "</metadata></domain>"
)


def test_fake_domain_in_a_processing_instruction() -> None:
    real = persistent("gmtest-good", UUID, GOOD_ELEMENT).split("-->\n\n", 1)[1]
    assert read(f"<?note {FAKE} ?>\n{real}") == [good_row()]


def test_fake_domain_nested_in_a_live_file() -> None:
    text = live("gmtest-good", UUID, GOOD_ELEMENT).replace(
        "<taint flag='high-privileges'/>", f"<app:x xmlns:app='urn:example:app'>{FAKE}</app:x>"
    )
    assert read(text) == [good_row(state="running")]


def test_name_and_uuid_after_metadata() -> None:
    text = (
        f"<domain type='qemu'><metadata>{GOOD_ELEMENT}</metadata>"
        f"<name>gmtest-good</name><uuid>{UUID}</uuid></domain>"
    )
    assert read(text) == [good_row()]


@pytest.mark.parametrize(
    "damage",
    [
        ("<devices>", "<devices><interface type='user'>"),  # an element never closed
        ("</domain>", "</domain><domain>"),  # a second root, closed at the end
    ],
)
def test_malformed_after_metadata_is_reported_when_verifying(damage: tuple[str, str]) -> None:
    text = persistent("gmtest-good", UUID, GOOD_ELEMENT).replace(*damage, 1)
    if damage[0] == "</domain>":
        text += "</domain>"
    with pytest.raises(FileError, match="malformed XML"):
        read_domain(text.encode(), verify=True)
    # The fast path reads only up to </metadata> (libvirtd never writes a file that is
    # broken further on, and truncation is caught by the end tag): documented trade-off.
    assert read(text) == [good_row()]


@pytest.mark.parametrize(
    ("doctype", "address"),
    [
        ('<!DOCTYPE domain [<!ENTITY a "6.6.6.6">]>', "&a;"),
        ('<!DOCTYPE domain [<!ATTLIST nova:ip address CDATA "6.6.6.6">]>', None),
    ],
)
def test_no_address_comes_from_a_dtd(doctype: str, address: str | None) -> None:
    ip = f' address="{address}"' if address else ""
    xml = GOOD_ELEMENT.replace(
        "</nova:ports>",
        f'<nova:port uuid="p-dtd"><nova:ip type="fixed"{ip}/></nova:port></nova:ports>',
    )
    try:
        rows = read(doctype + "\n" + persistent("gmtest-good", UUID, xml))
    except FileError:
        rows = []
    assert all(row.ip != "6.6.6.6" for row in rows)


def test_a_file_far_larger_than_a_domain_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from guestmeta.inventory import xmlfiles

    monkeypatch.setattr(xmlfiles, "MAX_FILE", 1 << 20)
    good = tmp_path / "gmtest-good.xml"
    good.write_text(persistent("gmtest-good", UUID, GOOD_ELEMENT))
    big = tmp_path / "gmtest-big.xml"
    padding = "<!-- " + "x" * (2 << 20) + " -->"
    big.write_text(padding + persistent("gmtest-big", UUID.replace("1", "2"), GOOD_ELEMENT))
    scan = scan_files([tmp_path])
    assert [d.name for d in scan.domains] == ["gmtest-good"]
    assert [(f.source, f.reason) for f in scan.failures] == [(str(big), "larger than 1 MiB")]
