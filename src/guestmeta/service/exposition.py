"""Adding up the workers' metrics for the admin listener.

A module apart from :mod:`guestmeta.service.metrics` because importing that one creates
the metrics, and the supervisor, which serves no request, must not appear in them (its
revision of 0 would be the lowest).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead


def exposition(directory: str) -> bytes:
    """Every worker's metrics, added up, in Prometheus' text format."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def forget(pid: int, directory: str) -> None:
    """A dead worker's live gauges stop counting (its counters stay in the totals)."""
    mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
