"""The host package's tests use the libvirt tests' scenario: one real libvirtd, a store
with hand-written servers, and readers for the XML libvirt keeps; and a running guest
whose kernel answers PCI unplug requests, for everything that unplugs a NIC."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.libvirt import guest
from tests.libvirt.conftest import OTHER, qemu, scenario_store, topology
from tests.libvirtd import define, remove

__all__ = ["agent_running", "booted", "guest_kernel", "qemu", "scenario_store", "topology"]


@contextmanager
def agent_running(agent: Any, join_timeout: float = 10.0) -> Iterator[Any]:
    """``agent.run`` in a thread for the ``with`` block; it must have stopped after."""
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(timeout=join_timeout)
    assert not thread.is_alive()


@pytest.fixture(scope="session")
def guest_kernel() -> tuple[Path, Path]:
    return guest.build()


@pytest.fixture
def booted(qemu: Any, guest_kernel: tuple[Path, Path], tmp_path: Path) -> Iterator[Any]:
    """gmtest-run, running a real kernel that answers PCI unplug requests."""
    kernel, initrd = guest_kernel
    console = tmp_path / "console.log"
    dom = define(
        qemu,
        "gmtest-run",
        start=True,
        macs=("fa:16:3e:00:01:01",),
        metadata=OTHER,
        memory_mib=256,
        os_extra=guest.boot_xml(kernel, initrd),
        extra_devices=guest.console_xml(console),
    )
    try:
        guest.wait_ready(console)
        yield dom
    finally:
        remove(dom)
