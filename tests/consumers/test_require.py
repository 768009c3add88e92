"""A missing consumer fails the run; ``--allow-missing-consumers`` alone turns that into skips.

The suite runs again in a subprocess, on one test from every place that needs a consumer,
with the consumers' interpreter and cloud-init pointed at paths that do not exist. Without
the option each of those tests must fail with one line naming its consumer and how to
install it; with it, each must be skipped with the same reason.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from tests.consumers import require

ROOT = Path(__file__).resolve().parents[2]
CONSUMERS_SH = "bash scripts/consumers.sh"
APT = "apt-get install cloud-init"
# One test from every place that needs a consumer: node id -> (consumers named, install hints).
NEEDS = {
    "tests/consumers/test_harness.py::test_glean_networkd": (
        ("glean", "cloudbase-init", "Nova"),
        (CONSUMERS_SH,),
    ),
    "tests/documents/test_glean.py::test_batch_writes_what_one_run_writes": (
        ("glean",),
        (CONSUMERS_SH,),
    ),
    "tests/documents/test_cloudbase.py::test_batch_keeps_each_failure_to_its_document": (
        ("cloudbase-init",),
        (CONSUMERS_SH,),
    ),
    "tests/documents/test_nova_oracle.py::test_the_matrix_names_every_loss": (
        ("Nova", "cloud-init"),
        (CONSUMERS_SH, APT),
    ),
    "tests/documents/test_cloudinit.py::test_unknown_mac_is_an_error": (("cloud-init",), (APT,)),
    # Needs cloud-init only through the documents' session fixture, ``converted``.
    "tests/documents/test_cloudinit.py::test_netplan[static_v4]": (("cloud-init",), (APT,)),
    "tests/documents/test_tree.py::test_config_drive_reader_reads_the_tree": (
        ("cloud-init",),
        (APT,),
    ),
    "tests/documents/test_properties.py::test_cloud_init_converts_every_generated_document": (
        ("cloud-init",),
        (APT,),
    ),
    "tests/inventory/test_nova_xml.py::test_nova_1_1_live_state": (("Nova",), (CONSUMERS_SH,)),
    (
        "tests/domainxml/test_instance.py::"
        "test_nova_reads_the_same_values_from_its_element_as_from_ours"
    ): (
        ("Nova",),
        (CONSUMERS_SH,),
    ),
}
# A test that needs no consumer, run alongside: it must pass either way.
PLAIN = "tests/documents/test_tree.py::test_user_data_is_served_as_raw_bytes"


def run_suite(tmp_path: Path, *options: str) -> tuple[int, dict[str, tuple[str, str]]]:
    """Exit status, and node id -> (outcome, message) from the run's JUnit report."""
    missing = tmp_path / "missing"
    report = tmp_path / f"report{len(options)}.xml"
    env = dict(os.environ)
    env["GUESTMETA_CONSUMERS_PYTHON"] = str(missing / "bin" / "python")
    env["GUESTMETA_CLOUD_INIT"] = str(missing / "cloud-init")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    proc = subprocess.run(
        [*command, f"--junitxml={report}", *options, *NEEDS, PLAIN],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert report.exists(), proc.stdout + proc.stderr
    outcomes = {}
    for case in ElementTree.parse(report).iter("testcase"):
        # No test classes here: the class name is the module's dotted path.
        node = f"{case.get('classname', '').replace('.', '/')}.py::{case.get('name')}"
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome, message = child.tag, child.get("message", "")
        outcomes[node] = (outcome, message)
    assert set(outcomes) == {*NEEDS, PLAIN}, proc.stdout
    return proc.returncode, outcomes


def _check_reason(message: str, names: tuple[str, ...], hints: tuple[str, ...]) -> None:
    first = re.search(r"missing consumer ([^:]+):", message)
    assert first is not None, message
    assert first.group(1).split(", ") == list(names), message
    for hint in hints:
        assert hint in message, message
    assert "\n" not in message.strip(), message


def test_a_missing_consumer_fails_the_run(tmp_path: Path) -> None:
    returncode, outcomes = run_suite(tmp_path)
    assert returncode == 1
    assert outcomes.pop(PLAIN) == ("passed", "")
    for node, (names, hints) in NEEDS.items():
        outcome, message = outcomes[node]
        assert outcome in ("failure", "error"), node
        _check_reason(message, names, hints)
        assert require.ALLOW_MISSING in message, message


def test_allow_missing_consumers_skips_instead(tmp_path: Path) -> None:
    returncode, outcomes = run_suite(tmp_path, require.ALLOW_MISSING)
    assert returncode == 0
    assert outcomes.pop(PLAIN) == ("passed", "")
    for node, (names, hints) in NEEDS.items():
        outcome, message = outcomes[node]
        assert outcome == "skipped", node
        _check_reason(message, names, hints)


# -- the helper itself, in this process -----------------------------------------------


@pytest.fixture
def strict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(require, "_allow_missing", False)


@pytest.fixture
def lenient(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(require, "_allow_missing", True)


# Both outcomes are caught, so that a skip where a failure is due fails the test.
OUTCOMES = (pytest.fail.Exception, pytest.skip.Exception)


@pytest.mark.usefixtures("strict")
def test_require_fails_without_the_option() -> None:
    with pytest.raises(OUTCOMES) as raised:
        require.require("glean", False, "do this")
    assert raised.type is pytest.fail.Exception
    assert str(raised.value) == (
        "missing consumer glean: do this (or pass --allow-missing-consumers to skip these tests)"
    )


@pytest.mark.usefixtures("lenient")
def test_require_skips_with_the_option() -> None:
    with pytest.raises(OUTCOMES) as raised:
        require.require("glean", False, "do this")
    assert raised.type is pytest.skip.Exception
    assert str(raised.value) == (
        "missing consumer glean: do this (skipped: --allow-missing-consumers)"
    )


@pytest.mark.usefixtures("strict")
def test_require_lets_an_installed_consumer_through() -> None:
    assert require.require("glean", True, "do this") is None


def test_unknown_consumer_names_are_refused() -> None:
    with pytest.raises(ValueError, match="ironic"):
        require.require_consumers("ironic")


def test_nothing_skips_a_test_for_a_missing_consumer_on_its_own() -> None:
    # Every skip goes through require.py: no test module may skip by itself.
    skips = re.compile(r"pytest\.skip\(|mark\.skipif|importorskip|mark\.xfail")
    here = {Path(__file__).resolve(), Path(require.__file__).resolve()}
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if path.resolve() not in here
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if skips.search(line)
    ]
    assert found == []
