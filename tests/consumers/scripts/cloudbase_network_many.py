"""cloudbase-init's parse of many network_data.json documents in one interpreter.

Usage: cloudbase_network_many.py   (stdin: JSON list of documents)

Each result is ``{"details": ...}`` (as ``cloudbase_network.py`` prints it) or
``{"error": traceback}`` when cloudbase-init raised for that document.
"""

from __future__ import annotations

import json
import sys
import traceback

from cloudbase_network import DocumentService, plain


def parse(document: object) -> dict[str, object]:
    service = DocumentService({"openstack/latest/network_data.json": json.dumps(document).encode()})
    try:
        return {"details": plain(service.get_network_details_v2())}
    except Exception:  # the document's failure is its answer
        return {"error": traceback.format_exc()}


def main() -> None:
    json.dump([parse(document) for document in json.load(sys.stdin)], sys.stdout)


if __name__ == "__main__":
    main()
