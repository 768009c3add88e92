"""A real libvirtd for the inventory tests, and test domains that are removed after use."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import libvirt
import pytest

from tests.libvirtd import URI, LibvirtDaemon, define, remove


@pytest.fixture
def conn(libvirtd: LibvirtDaemon) -> Iterator[Any]:
    # One per test: a test may restart libvirtd, which ends every open connection.
    connection = libvirt.open(URI)
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
def make_domain(conn: Any) -> Iterator[Callable[..., Any]]:
    """Define test domains under names no other test uses; remove them afterwards.

    Other tests define domains in the same daemon, so every name carries a random token.
    """
    token = uuid.uuid4().hex[:8]
    made: list[Any] = []

    def make(suffix: str, **kwargs: Any) -> Any:
        dom = define(conn, f"gmtest-inv-{token}-{suffix}", **kwargs)
        made.append(dom)
        return dom

    yield make
    for dom in made:
        remove(dom)
