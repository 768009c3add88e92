"""The service's Prometheus metrics, shared by every worker process.

Workers are separate processes, so the counters live in prometheus_client's
multiprocess files (``PROMETHEUS_MULTIPROC_DIR``, set by the supervisor before any
worker starts) and the admin listener adds them up. Names follow Prometheus'
conventions: ``_total`` counters, a ``_seconds`` histogram.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Buckets sized for answers from memory: most are well under a millisecond.
BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0)

REQUESTS = Counter(
    "guestmeta_metadata_requests_total", "Metadata requests answered, by status", ["status"]
)
LATENCY = Histogram(
    "guestmeta_metadata_request_seconds", "Time to answer a metadata request", buckets=BUCKETS
)
IDENTITY = Counter(
    "guestmeta_metadata_identity_failures_total",
    "Requests whose caller could not be resolved to a server, by status",
    ["status"],
)
REVISION = Gauge(
    "guestmeta_metadata_revision",
    "Store revision each worker serves (the lowest is what every caller sees)",
    multiprocess_mode="livemin",
)
STORE_FAILURES = Counter(
    "guestmeta_metadata_store_failures_total", "Failed reads of the store (last copy kept)"
)


class Metrics:
    """The calls the app makes; one place, so the hot path stays two lines."""

    def __init__(self) -> None:
        self._status = {s: REQUESTS.labels(str(s)) for s in (200, 400, 401, 403, 404, 405, 409)}

    def request(self, status: int, seconds: float) -> None:
        counter = self._status.get(status)
        if counter is None:
            counter = self._status[status] = REQUESTS.labels(str(status))
        counter.inc()
        LATENCY.observe(seconds)

    def identity_failure(self, status: int) -> None:
        IDENTITY.labels(str(status)).inc()

    @staticmethod
    def revision(revision: int) -> None:
        REVISION.set(revision)

    @staticmethod
    def store_failure() -> None:
        STORE_FAILURES.inc()
