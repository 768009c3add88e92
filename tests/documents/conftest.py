"""Every topology of the matrix converted once by real cloud-init, for all four renderers.

One cloud-init interpreter converts the whole matrix (about half a second), instead of
one 0.4 s process per topology and renderer.
"""

from __future__ import annotations

import pytest

from guestmeta.documents import network_data
from tests.consumers import cloudinit
from tests.consumers.require import require_consumers
from tests.documents.topologies import CASES

Converted = dict[tuple[str, str], dict[str, str]]


@pytest.fixture(scope="session")
def converted() -> Converted:
    require_consumers("cloud-init")
    jobs = []
    keys = []
    for case in CASES:
        document = network_data(case.topology, case.server_id)
        assert document is not None
        for output in cloudinit.OUTPUTS:
            jobs.append((document, case.macs, output))
            keys.append((case.name, output))
    results = cloudinit.net_convert_many(jobs)
    out: Converted = {}
    for key, result in zip(keys, results, strict=True):
        if isinstance(result, Exception):
            raise result
        out[key] = result
    return out
