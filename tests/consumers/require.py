"""One rule for a missing consumer: the run fails, unless skipping was asked for.

A test that needs a real consumer (Debian's cloud-init, or glean, cloudbase-init or Nova
from ``.venv-consumers``) says so with the ``consumers`` mark or by calling
:func:`require_consumers`. When the consumer is not installed the test fails with one line
that names it and says how to install it, so a broken install can never pass as green.
``pytest --allow-missing-consumers`` (the option is registered in ``tests/conftest.py``)
turns those failures into skips, for a machine where the consumers are missing on purpose.
"""

from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.consumers import _run, cloudinit

ALLOW_MISSING = "--allow-missing-consumers"
MARK = "consumers"

# Set from the command line by tests/conftest.py; outside a configured run, missing fails.
_allow_missing = False


def allow_missing(allowed: bool) -> None:
    """Whether a missing consumer skips (True) or fails (False) the tests that need it."""
    global _allow_missing
    _allow_missing = allowed


@dataclass(frozen=True)
class Consumer:
    name: str  # as its project spells it, for the message
    python: str  # the interpreter it runs under
    module: str  # the module that interpreter must import
    install: str  # how to install it


_CONSUMERS_SH = (
    "run `bash scripts/consumers.sh`, which installs glean, cloudbase-init and Nova into"
    " .venv-consumers"
)
CONSUMERS = {
    "cloud-init": Consumer(
        "cloud-init",
        cloudinit.SYSTEM_PYTHON,
        "cloudinit",
        "run `apt-get install cloud-init` (Debian's package)",
    ),
    "glean": Consumer("glean", str(_run.CONSUMERS_PYTHON), "glean", _CONSUMERS_SH),
    "cloudbase-init": Consumer(
        "cloudbase-init", str(_run.CONSUMERS_PYTHON), "cloudbaseinit", _CONSUMERS_SH
    ),
    "nova": Consumer("Nova", str(_run.CONSUMERS_PYTHON), "nova", _CONSUMERS_SH),
}


@functools.cache
def _importable(python: str, module: str) -> bool:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec(sys.argv[1]) is None)"
    proc = subprocess.run(
        [python, "-c", probe, module], capture_output=True, timeout=60, env=env, check=False
    )
    return proc.returncode == 0


def missing(name: str) -> str | None:
    """Why the consumer ``name`` (a key of :data:`CONSUMERS`) cannot run here, or None."""
    consumer = CONSUMERS[name]
    if name == "cloud-init" and not Path(cloudinit.CLOUD_INIT).exists():
        return f"{cloudinit.CLOUD_INIT} does not exist"
    if not Path(consumer.python).exists():
        return f"{consumer.python} does not exist"
    if not _importable(consumer.python, consumer.module):
        return f"{consumer.python} cannot import {consumer.module}"
    return None


def require(name: str, available: bool, hint: str) -> None:
    """Fail the current test unless ``available``: ``name`` is the missing consumer, ``hint``
    what is wrong and how to install it. With ``--allow-missing-consumers``, skip instead.
    """
    if available:
        return
    reason = f"missing consumer {name}: {hint}"
    if _allow_missing:
        pytest.skip(f"{reason} (skipped: {ALLOW_MISSING})")
    pytest.fail(f"{reason} (or pass {ALLOW_MISSING} to skip these tests)", pytrace=False)


def require_consumers(*names: str) -> None:
    """:func:`require` every consumer in ``names`` (keys of :data:`CONSUMERS`), in one line
    for all the missing ones.
    """
    unknown = [name for name in names if name not in CONSUMERS]
    if unknown:
        raise ValueError(f"unknown consumers {unknown}: choose from {', '.join(CONSUMERS)}")
    reasons = {name: missing(name) for name in dict.fromkeys(names)}
    absent = [name for name, reason in reasons.items() if reason is not None]
    if not absent:
        return
    installs = dict.fromkeys(CONSUMERS[name].install for name in absent)
    hint = "; ".join([*dict.fromkeys(str(reasons[name]) for name in absent), *installs])
    require(", ".join(CONSUMERS[name].name for name in absent), False, hint)


def check_marks(item: pytest.Item) -> None:
    """Require the consumers named by every ``consumers`` mark on ``item``."""
    names = [name for mark in item.iter_markers(MARK) for name in mark.args]
    if names:
        require_consumers(*names)
