"""The service's Prometheus metrics, shared by every worker process.

Workers are separate processes, so the counters live in prometheus_client's
multiprocess files (``PROMETHEUS_MULTIPROC_DIR``, set by the supervisor before any
worker starts) and the admin listener adds them up. Names follow Prometheus'
conventions: ``_total`` counters, a ``_seconds`` histogram.

Writing those files costs more than answering a request from memory (a fifth of the
app's time when done per request), so a request only adds to plain counters here, and
the worker's event loop hands them to prometheus_client once a second
(:meth:`Metrics.flush`): ``/metrics`` is at most a second behind.
"""

from __future__ import annotations

from bisect import bisect_left

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


_BOUNDS = (*BUCKETS, float("inf"))


class Metrics:
    """Counts of one worker's event loop, handed to prometheus_client by :meth:`flush`.

    Only the loop's thread touches the counts (requests and flushes both run on it), so
    nothing is lost between a count and a flush.
    """

    def __init__(self) -> None:
        self._statuses: dict[int, int] = {}
        self._identity: dict[int, int] = {}
        self._buckets = [0] * len(_BOUNDS)
        self._seconds = 0.0

    def request(self, status: int, seconds: float) -> None:
        self._statuses[status] = self._statuses.get(status, 0) + 1
        self._buckets[bisect_left(_BOUNDS, seconds)] += 1
        self._seconds += seconds

    def identity_failure(self, status: int) -> None:
        self._identity[status] = self._identity.get(status, 0) + 1

    def flush(self) -> None:
        """Add what was counted since the last flush to the shared metrics."""
        statuses, self._statuses = self._statuses, {}
        identity, self._identity = self._identity, {}
        buckets, self._buckets = self._buckets, [0] * len(_BOUNDS)
        seconds, self._seconds = self._seconds, 0.0
        for status, count in statuses.items():
            REQUESTS.labels(str(status)).inc(count)
        for status, count in identity.items():
            IDENTITY.labels(str(status)).inc(count)
        # A histogram takes one observation at a time; its buckets and sum take counts
        # (prometheus_client's own fields, the same ones observe() adds to).
        for index, count in enumerate(buckets):
            if count:
                LATENCY._buckets[index].inc(count)
        if seconds:
            LATENCY._sum.inc(seconds)

    @staticmethod
    def revision(revision: int) -> None:
        REVISION.set(revision)

    @staticmethod
    def store_failure() -> None:
        STORE_FAILURES.inc()
