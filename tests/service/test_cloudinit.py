"""Real cloud-init crawls the service and reads exactly what the config drive holds.

cloud-init's OpenStack datasource (``MetadataReader(url).read_v2()``) walks the service's
listings and fetches every file; its EC2 crawler walks ``/2009-04-04/meta-data/``. Both
run under Debian's python against a channel listener (the channel is the server's
identity, so cloud-init sends nothing special, as a guest would). The drive side is the
same server's config drive tree read by cloud-init's ``ConfigDriveReader``. Only the
random seed differs (fresh on every request, fixed on a drive).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from guestmeta.documents import DocumentOptions, document_tree
from guestmeta.model import Topology
from tests.consumers import cloudinit
from tests.service.conftest import Service, filled_store, free_port, start, stop

pytestmark = pytest.mark.consumers("cloud-init")

# A server with user data, a keypair, two ports (one on a VLAN provider network) and a
# floating IP; and one with no ports at all.
SERVERS = {
    "db-01": "8b7eb7c4-1d24-5e55-8777-e6bdbf2c9db4",
    "web-01": "7990f02f-b7a4-5e19-a54a-3db5d9dd5390",
    "lb-02": "6f7ea8ec-9a3c-50db-bcf1-f1563b1948ca",
}


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Service, Topology, dict[str, int]]]:
    tmp = tmp_path_factory.mktemp("crawl")
    db = f"sqlite:///{tmp / 'store.db'}"
    topology = filled_store(db)
    ports = {name: free_port() for name in SERVERS}
    listeners = "".join(
        f'[[listen]]\naddress = "127.0.0.1:{port}"\nserver = "{name}"\n'
        for name, port in ports.items()
    )
    service = start(tmp, db, "rate_limit = 0\n" + listeners, port=free_port(), admin=free_port())
    try:
        yield service, topology, ports
    finally:
        stop(service)


def _without_seed(read: dict[str, Any]) -> dict[str, Any]:
    metadata = dict(read["metadata"])
    seed = metadata.pop("random_seed")  # cloud-init decodes it
    assert isinstance(seed, bytes) and len(seed) == 512
    # MetadataReader leaves the EC2 tree to the EC2 crawler (compared below).
    return {**{k: v for k, v in read.items() if k != "ec2-metadata"}, "metadata": metadata}


@pytest.mark.parametrize("name", list(SERVERS))
def test_cloud_init_reads_the_same_from_the_service_as_from_the_drive(
    served: tuple[Service, Topology, dict[str, int]], name: str, tmp_path: Path
) -> None:
    _service, topology, ports = served
    server_id = SERVERS[name]
    for path, data in document_tree(topology, server_id, DocumentOptions()).items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    drive = cloudinit.read_drive(tmp_path)
    crawled = cloudinit.read_service(f"http://127.0.0.1:{ports[name]}")
    service = crawled["openstack"]
    assert service["metadata"]["uuid"] == server_id
    assert _without_seed(service) == _without_seed(drive)
    # The EC2 crawl holds what the drive's flat EC2 JSON holds.
    ec2 = crawled["ec2"]
    assert ec2["instance-id"] == drive["ec2-metadata"]["instance-id"]
    assert ec2 == _as_crawled(drive["ec2-metadata"])
    user_data = topology.servers[server_id].user_data
    # cloud-init gives bytes when the service has user data, "" after its 404.
    assert crawled["ec2-user-data"] == (user_data if user_data is not None else "")


def _as_crawled(flat: dict[str, Any]) -> dict[str, Any]:
    """The drive's flat EC2 JSON as cloud-init's crawler reads the same tree over HTTP:
    every leaf is text (a list is one line per item, one item is just that text), and
    ``public-keys`` entries ``0=name`` become ``name`` with their key."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if key == "public-keys":
            out[key] = dict(_key(entry, keys) for entry, keys in value.items())
        elif isinstance(value, dict):
            out[key] = _as_crawled(value)
        else:
            out[key] = _leaf(value)
    return out


def _key(entry: str, keys: Any) -> tuple[str, Any]:
    """``0=name: [key]``, or Nova's ``0: {_name: 0=name, openssh-key: key}``."""
    if isinstance(keys, dict):
        return keys["_name"].split("=", 1)[1], keys["openssh-key"]
    return entry.split("=", 1)[1], _leaf(keys)


def _leaf(value: Any) -> Any:
    if isinstance(value, list):
        items = [str(item) for item in value]
        return items[0] if len(items) == 1 else items
    return str(value)
