"""The Prometheus exporter: guest addresses as ``guestmeta_domain_ip_info`` series.

A scrape is answered from the index's last snapshot, rendered once per change of the
index and then served as the same bytes, so a scrape costs no libvirt call, no XML and
no formatting. Series of a domain that vanished disappear with it, because each render
starts from nothing (a custom collector, not long-lived labelled gauges).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from guestmeta.inventory.index import Index, Snapshot
from guestmeta.inventory.rows import COLUMNS

# The row columns but the state, which a series would change with every start and stop.
IP_LABELS = tuple(column for column in COLUMNS if column != "state")


def metrics(snap: Snapshot) -> Iterator[Metric]:
    """Every series for one snapshot of the index."""
    info = GaugeMetricFamily(
        "guestmeta_domain_ip_info",
        "An address of a guest, from its nova:instance domain metadata (always 1).",
        labels=IP_LABELS,
    )
    per_type: Counter[tuple[str, str]] = Counter()
    states: Counter[str] = Counter()
    with_metadata = 0
    for dom in snap.domains:
        states[dom.state or "unknown"] += 1
        with_metadata += dom.metadata is not None
        for row in dom.rows():
            info.add_metric(
                [
                    row.domain,
                    row.instance_uuid,
                    row.instance_name or "",
                    row.project_uuid or "",
                    row.port_uuid or "",
                    row.ip or "",
                    row.type or "",
                    str(row.ip_version),
                ],
                1,
            )
            per_type[(row.type or "", str(row.ip_version))] += 1
    yield info

    domains = GaugeMetricFamily(
        "guestmeta_host_domains", "Domains on this host by state.", labels=("host", "state")
    )
    for state, count in sorted(states.items()):
        domains.add_metric([snap.host, state], count)
    yield domains
    yield GaugeMetricFamily(
        "guestmeta_host_domains_with_metadata",
        "Domains on this host that carry a nova:instance element.",
        value=with_metadata,
        labels=None,
    )
    addresses = GaugeMetricFamily(
        "guestmeta_host_addresses",
        "Guest addresses on this host by type and IP version.",
        labels=("host", "type", "ip_version"),
    )
    for (kind, version), count in sorted(per_type.items()):
        addresses.add_metric([snap.host, kind, version], count)
    yield addresses

    unreadable = GaugeMetricFamily(
        "guestmeta_domain_read_error",
        "A domain whose metadata could not be read on the last read (always 1).",
        labels=("domain", "reason"),
    )
    for failure in snap.failures:
        unreadable.add_metric([failure.source, failure.reason[:200]], 1)
    yield unreadable
    yield CounterMetricFamily(
        "guestmeta_read_errors", "Domain reads that failed.", value=snap.read_errors_total
    )
    yield CounterMetricFamily(
        "guestmeta_libvirt_events", "libvirt events received.", value=snap.events_total
    )
    yield CounterMetricFamily(
        "guestmeta_full_passes", "Full passes over all domains.", value=snap.full_passes_total
    )
    yield GaugeMetricFamily(
        "guestmeta_last_full_pass_timestamp_seconds",
        "When the last full pass over all domains finished.",
        value=snap.last_full_pass,
    )
    yield GaugeMetricFamily(
        "guestmeta_libvirt_up", "1 while connected to libvirt.", value=int(snap.connected)
    )


class _Collector:
    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def collect(self) -> Iterator[Metric]:
        return metrics(self.snap)


def render(snap: Snapshot) -> bytes:
    """The text exposition format for one snapshot."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(snap))
    return bytes(generate_latest(registry))


class Exporter:
    """Serves ``/metrics`` from an index; re-renders only when the index changed."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self._lock = threading.Lock()
        self._body = b""
        self._version = -1

    def body(self) -> bytes:
        with self._lock:
            version = self.index.version
            if version != self._version:
                # Take the version first: a change during the render makes the next
                # scrape render again instead of serving a stale body forever.
                self._body = render(self.index.snapshot())
                self._version = version
            return self._body

    def server(self, host: str, port: int) -> ThreadingHTTPServer:
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, exporter.body(), CONTENT_TYPE_LATEST)
                elif path == "/":
                    self._send(200, b"guestmeta exporter: see /metrics\n", "text/plain")
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # one line per scrape is noise in an exporter's log

        family = _family(host)
        server_class = type("Server", (ThreadingHTTPServer,), {"address_family": family})
        server: ThreadingHTTPServer = server_class((host, port), Handler)
        server.daemon_threads = True
        return server


def _family(host: str) -> int:
    import socket

    return socket.AF_INET6 if ":" in host else socket.AF_INET


def parse_listen(value: str) -> tuple[str, int]:
    """``ADDR:PORT``, ``[V6ADDR]:PORT`` or ``:PORT`` (all IPv4 addresses)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{value!r} is not ADDR:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "0.0.0.0", int(port)
