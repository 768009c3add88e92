"""Parse a network_data.json (stdin) with cloudbase-init's OpenStack service; print JSON.

cloudbase-init targets Windows, but the metadata service classes and the network model
import on Linux as they are: nothing is stubbed. Only the transport is replaced: a service
whose ``_get_data`` answers from the document given, instead of a config drive or HTTP.
What comes out is ``get_network_details_v2()``, the NetworkDetailsV2 that its
NetworkConfigPlugin applies to the guest's adapters, turned from namedtuples into JSON.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from cloudbaseinit.metadata.services import base, baseopenstackservice


class DocumentService(baseopenstackservice.BaseOpenStackService):
    """The OpenStack service with the documents held in memory."""

    def __init__(self, documents: dict[str, bytes]) -> None:
        super().__init__()
        self._documents = documents

    def _get_data(self, path: str) -> bytes:
        try:
            return self._documents[path]
        except KeyError:
            raise base.NotExistingMetadataException(path) from None


def plain(value: Any) -> Any:
    """namedtuples (the model's types) as dicts, recursively."""
    if hasattr(value, "_asdict"):
        return {key: plain(item) for key, item in value._asdict().items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def main() -> None:
    network_data = sys.stdin.buffer.read()
    service = DocumentService({"openstack/latest/network_data.json": network_data})
    details = service.get_network_details_v2()
    json.dump(plain(details), sys.stdout)


if __name__ == "__main__":
    main()
