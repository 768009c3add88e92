"""Which domains a host manages, and the element each should carry."""

from __future__ import annotations

from guestmeta.domainxml import InstanceMetadata, desired_many
from guestmeta.model import Topology


def managed(topology: Topology, host: str) -> dict[str, str]:
    """Domain name -> server id, for the servers the store places on ``host``."""
    return topology.index.domains_on(host)


def wanted(
    topology: Topology, host: str, by_domain: dict[str, str] | None = None
) -> dict[str, InstanceMetadata]:
    """Domain name -> the element it should carry, for every server on ``host``.

    ``by_domain``: ``managed(topology, host)``, when the caller has it already.
    """
    if by_domain is None:
        by_domain = managed(topology, host)
    metas = desired_many(topology, by_domain.values())
    return {name: metas[sid] for name, sid in by_domain.items()}
