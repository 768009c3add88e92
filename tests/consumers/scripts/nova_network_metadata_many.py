"""Nova's own network_data.json for many network_infos in one interpreter.

Usage: nova_network_metadata_many.py   (stdin: JSON list of network_info lists)

Each result is ``{"document": get_network_metadata(...)}`` (``null`` for no VIF), or
``{"error": traceback}`` when Nova raised for that network_info.
"""

from __future__ import annotations

import json
import sys
import traceback

from nova.network import model
from nova.virt import netutils


def render(info: list[dict[str, object]]) -> dict[str, object]:
    try:
        return {"document": netutils.get_network_metadata(model.NetworkInfo.hydrate(info))}
    except Exception:  # the network_info's failure is its answer
        return {"error": traceback.format_exc()}


def main() -> None:
    json.dump([render(info) for info in json.load(sys.stdin)], sys.stdout)


if __name__ == "__main__":
    main()
