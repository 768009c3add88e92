"""``guestmeta agent --config-drives``: drives built, put on the cdrom, swapped in place.

Against the real libvirtd with a running QEMU guest: the saved definition gets the
cdrom, the running domain sees it after a restart (IDE cdroms cannot be hot-plugged), a
change of the server's documents swaps the media live and saved, and QEMU itself reports
the new file. The scenario's servers get domain names of this module's own.
"""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import libvirt
import libvirt_qemu
import pytest

from guestmeta.apply import Plan
from guestmeta.drives import read_image
from guestmeta.host.agent import Agent
from guestmeta.host.drives import DriveKeeper
from guestmeta.libvirt import media
from guestmeta.model import Topology
from guestmeta.store import Store
from tests.host.conftest import agent_running
from tests.libvirt.conftest import HOST, OTHER, SERVER_OFF, SERVER_RUN
from tests.libvirtd import URI, define, remove

RUN, OFF = "gmtest-cdrv-run", "gmtest-cdrv-off"


def _edit(edit: Callable[[Topology], None]) -> Callable[[Topology], Any]:
    def compute(current: Topology) -> Any:
        new = current.copy()
        edit(new)
        return Plan.between(current, new)

    return compute


def _set_server(server_id: str, **changes: Any) -> Callable[[Topology], Any]:
    def edit(t: Topology) -> None:
        t.servers = {**t.servers, server_id: replace(t.servers[server_id], **changes)}

    return _edit(edit)


@pytest.fixture
def store(scenario_store: Store) -> Store:
    scenario_store.change(_set_server(SERVER_RUN, domain_name=RUN))
    scenario_store.change(_set_server(SERVER_OFF, domain_name=OFF))
    return scenario_store


@pytest.fixture
def domains(qemu: Any) -> Iterator[tuple[Any, Any]]:
    run = define(qemu, RUN, start=True, macs=("fa:16:3e:00:01:01",), metadata=OTHER)
    off = define(qemu, OFF, macs=("fa:16:3e:00:02:01",), metadata=OTHER)
    try:
        yield run, off
    finally:
        remove(run)
        remove(off)


def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    started = time.monotonic()
    while not (found := check()):
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout:g} s")
        time.sleep(0.05)
    return found


def qemu_media(dom: Any) -> str | None:
    """The file QEMU itself has in our cdrom (query-block on the monitor)."""
    reply = json.loads(libvirt_qemu.qemuMonitorCommand(dom, '{"execute":"query-block"}', 0))
    for device in reply["return"]:
        if device.get("qdev") == media.ALIAS:  # QEMU's device id is libvirt's alias
            inserted = device.get("inserted")
            return inserted["file"] if inserted else None
    raise AssertionError(f"no {media.ALIAS} in {reply}")


def meta(path: str) -> dict[str, Any]:
    return dict(json.loads(read_image(path).files["openstack/latest/meta_data.json"]))


def test_drives_follow_the_store(domains: tuple[Any, Any], store: Store, tmp_path: Path) -> None:
    run, off = domains
    agent = Agent(
        store, uri=URI, host=HOST, interval=3600, backoff_max=1.0, drives=DriveKeeper(tmp_path)
    )
    with agent_running(agent):
        saved = wait_for(lambda: media.current(run, libvirt.VIR_DOMAIN_AFFECT_CONFIG))
        assert (saved.target, saved.bus) == ("hdc", "ide")
        assert Path(saved.source).parent == tmp_path
        assert stat.S_IMODE(Path(saved.source).stat().st_mode) == 0o640
        assert meta(saved.source)["uuid"] == SERVER_RUN
        off_drive = wait_for(lambda: media.current(off, libvirt.VIR_DOMAIN_AFFECT_CONFIG))
        assert meta(off_drive.source)["uuid"] == SERVER_OFF
        assert media.current(run) is None  # not hot-plugged: from the next start

        run.destroy()
        run.create()
        assert media.current(run) == saved
        assert qemu_media(run) == saved.source

        store.change(_set_server(SERVER_RUN, metadata={"role": "db"}))
        live = wait_for(
            lambda: (c := media.current(run)) is not None and c.source != saved.source and c
        )
        wait_for(lambda: media.current(run, libvirt.VIR_DOMAIN_AFFECT_CONFIG) == live)
        assert qemu_media(run) == live.source  # QEMU opened the new image in place
        assert meta(live.source)["meta"] == {"role": "db"}
        assert not Path(saved.source).exists()  # the old image is gone

        before = Path(live.source).stat()
        off_before = Path(off_drive.source).stat()
        store.change(_set_server(SERVER_OFF, metadata={"role": "cold"}))
        wait_for(
            lambda: (
                (c := media.current(off, libvirt.VIR_DOMAIN_AFFECT_CONFIG)) is not None
                and c.source != off_drive.source
            )
        )
        after = Path(live.source).stat()  # run's documents did not change: untouched
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
        assert media.current(run) == live
        assert (
            off_before.st_ino
            != Path(
                media.current(off, libvirt.VIR_DOMAIN_AFFECT_CONFIG).source  # type: ignore[union-attr]
            )
            .stat()
            .st_ino
        )


def test_a_failed_drive_is_tried_again_soon(
    domains: tuple[Any, Any], store: Store, tmp_path: Path
) -> None:
    """A drive that cannot be kept is owed, and tried again after the short backoff: not
    at the next periodic pass (an hour here), and with no store change to prompt it.

    The failure here is the drive directory missing; in CI it was QEMU refusing a media
    change while a just-started guest's firmware held the tray. Both take the same path.
    """
    run, _ = domains
    directory = tmp_path / "later"
    agent = Agent(
        store, uri=URI, host=HOST, interval=3600, backoff_max=1.0, drives=DriveKeeper(directory)
    )
    with agent_running(agent):
        # The pass after connecting tried the drives (and failed); wait until it is over.
        wait_for(lambda: RUN in agent.drives_owed and agent.passes >= 1)
        assert media.current(run, libvirt.VIR_DOMAIN_AFFECT_CONFIG) is None
        # ... and said so in its reports (``guestmeta status`` shows them)
        assert any(
            line.startswith(f"config drive of {OFF} (and 1 more): ") and str(directory) in line
            for _, line in agent.failures.items
        ), agent.failures.items
        passes = agent.passes
        directory.mkdir()
        saved = wait_for(lambda: media.current(run, libvirt.VIR_DOMAIN_AFFECT_CONFIG))
        assert Path(saved.source).parent == directory
        assert meta(saved.source)["uuid"] == SERVER_RUN
        wait_for(lambda: not agent.drives_owed)
        assert agent.passes == passes  # no full pass brought it
