"""Package attributes that load their module on first use (PEP 562).

``guestmeta ips --xml`` must start without the libvirt binding and commands that never
open the store without SQLAlchemy, yet each package offers one flat public API. A
package names where each attribute lives, and the module loads when it is first read.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def exports(package: str, homes: dict[str, tuple[str, ...]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: module name -> the names it provides."""
    where = {name: module for module, names in homes.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(module), name)

    return __getattr__
