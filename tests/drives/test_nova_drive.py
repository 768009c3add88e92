"""Nova's config drive, made Nova's way, against ours: the same files but for the named
differences.

Nova's drive is ``InstanceMetadata.metadata_for_config_drive()`` (Nova's own code, in the
consumers' environment) written to a directory and packed by ``genisoimage`` with Nova's
flags, as Nova's ``ConfigDriveBuilder`` does; ours is :func:`build_drive`. Both images are
read back, the differences that tests/documents/test_nova_parity.py names (and that
docs/operator-guide.md explains) are applied to Nova's files, and then every path and
every byte must agree; ``random_seed`` is fresh in Nova's and derived in ours, so it is
blanked on both sides, and ours is checked to be the derived one.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

from guestmeta.drives import build_drive, drive_seed, read_image
from guestmeta.model import Topology
from tests.consumers.nova_metadata import _run, _server
from tests.documents.test_nova_parity import DUMP_TOPOLOGY, Differences, unseeded
from tests.documents.topologies import BY_NAME, SERVER_ID
from tests.drives.conftest import unpack
from tests.drives.test_iso import NOVA_FLAGS

pytestmark = pytest.mark.consumers("nova")

JOBS: list[tuple[str, Topology, str]] = [
    *((f"dump:{s.name}", DUMP_TOPOLOGY, s.id) for s in DUMP_TOPOLOGY.servers.values()),
    ("matrix:bond_vlan", BY_NAME["bond_vlan"].topology, SERVER_ID),
]


@pytest.fixture(scope="module")
def nova_drives() -> dict[str, dict[str, bytes]]:
    """Every job's drive from one run of Nova (``nova_drive`` does one server per run)."""
    servers = [
        _server(topology, sid, [], crawl=False, drive=True, addresses=None)
        for _, topology, sid in JOBS
    ]
    return {
        name: {p: base64.b64decode(b) for p, b in raw["drive"].items()}
        for (name, _, _), raw in zip(JOBS, _run(None, servers), strict=True)
    }


@pytest.mark.parametrize(("name", "topology", "server_id"), JOBS, ids=[j[0] for j in JOBS])
def test_novas_drive_and_ours_hold_the_same_files(
    nova_drives: dict[str, dict[str, bytes]],
    name: str,
    topology: Topology,
    server_id: str,
    tmp_path: Path,
) -> None:
    source = unpack(nova_drives[name], tmp_path / "nova")
    subprocess.run(
        ["genisoimage", "-quiet", "-o", str(tmp_path / "nova.iso"), *NOVA_FLAGS, str(source)],
        check=True,
    )
    (tmp_path / "ours.iso").write_bytes(build_drive(topology, server_id))
    nova, ours = read_image(tmp_path / "nova.iso"), read_image(tmp_path / "ours.iso")
    assert nova.label == ours.label == "config-2"

    seed = json.loads(ours.files["openstack/latest/meta_data.json"])["random_seed"]
    assert base64.b64decode(seed) == drive_seed(topology.servers[server_id])
    mine = {p: unseeded(b) for p, b in ours.files.items()}
    differences = Differences(topology, server_id, mine)
    expected = {}
    for path, body in nova.files.items():
        kept = differences.file(path, unseeded(body))
        if kept is not None:
            expected[path] = kept
    assert sorted(set(expected) ^ set(mine)) == [], name
    for path, body in expected.items():
        assert mine[path] == body, (name, path)
