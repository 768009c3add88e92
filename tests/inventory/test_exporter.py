"""The exporter against a real libvirtd, scraped over HTTP while domains change."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from guestmeta.domainxml import IP, NS, InstanceMetadata, PortIPs
from guestmeta.inventory.exporter import Exporter
from guestmeta.inventory.index import Index
from guestmeta.libvirt import domain as libvirt_domain
from tests.inventory.files import element
from tests.libvirtd import URI, LibvirtDaemon, define, remove

GUESTMETA = str(Path(sys.executable).with_name("guestmeta"))
PROJECT = "6f0c3e1b-52a4-4c6e-9d1e-3b7a2c9f8e01"
# Events arrive in milliseconds; the full pass is an hour away, so only events can do it.
EVENT_WAIT = 5.0


def scrape(port: int) -> dict[str, list[Any]]:
    """Samples by name, from the text exposition format."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    samples: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def ip_series(samples: dict[str, list[Any]], domain: str) -> list[dict[str, str]]:
    series = [
        s for s in samples.get("guestmeta_domain_ip_info", []) if s.labels["domain"] == domain
    ]
    assert all(s.value == 1 for s in series)
    return sorted((dict(s.labels) for s in series), key=lambda labels: labels["ip"])


def value(samples: dict[str, list[Any]], name: str) -> float:
    (sample,) = samples[name]
    return float(sample.value)


def wait_for(
    port: int, check: Callable[[dict[str, list[Any]]], bool], timeout: float
) -> dict[str, list[Any]]:
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(port)
        if check(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.05)


def labels(
    dom: Any, port: str, ip: str, kind: str, version: str, name: str = "web-1"
) -> dict[str, str]:
    return {
        "domain": dom.name(),
        "instance_uuid": dom.UUIDString(),
        "instance_name": name,
        "project_uuid": PROJECT,
        "port_uuid": port,
        "ip": ip,
        "type": kind,
        "ip_version": version,
    }


@pytest.fixture
def exporter_port(libvirtd: object) -> Iterator[int]:
    index = Index(URI, full_pass_interval=3600).start()
    server = Exporter(index).server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        ready = wait_for(port, lambda s: value(s, "guestmeta_full_passes_total") >= 1, 30)
        assert value(ready, "guestmeta_libvirt_up") == 1
        yield port
    finally:
        server.shutdown()
        server.server_close()
        index.stop()


def test_series_follow_domains(exporter_port: int, make_domain: Callable[..., Any]) -> None:
    port = exporter_port
    passes = value(scrape(port), "guestmeta_full_passes_total")

    dom = make_domain(
        "exp",
        metadata=element(
            ports=[("port-a", [("fixed", "10.20.0.5", "4"), ("fixed", "2001:db8:20::5", "6")])]
        ),
    )
    first = [
        labels(dom, "port-a", "10.20.0.5", "fixed", "4"),
        labels(dom, "port-a", "2001:db8:20::5", "fixed", "6"),
    ]
    samples = wait_for(port, lambda s: ip_series(s, dom.name()) == first, EVENT_WAIT)
    assert ip_series(samples, dom.name()) == first

    # A new element: the new address appears, the old ones go, in one change.
    libvirt_domain.write(
        dom,
        InstanceMetadata(
            name="web-2",
            project_uuid=PROJECT,
            ports=(PortIPs("port-b", (IP("floating", "198.51.100.7", 4),)),),
        ),
        libvirt_domain.CONFIG,
    )
    second = [labels(dom, "port-b", "198.51.100.7", "floating", "4", name="web-2")]
    samples = wait_for(port, lambda s: ip_series(s, dom.name()) == second, EVENT_WAIT)
    assert ip_series(samples, dom.name()) == second

    # libvirt refuses to store a malformed element, so the exporter never sees one:
    # the last good series stay.
    with pytest.raises(libvirt.libvirtError):
        dom.setMetadata(
            libvirt_domain.ELEMENT, "<instance><ports>", "nova", NS, libvirt_domain.CONFIG
        )
    assert ip_series(scrape(port), dom.name()) == second

    name = dom.name()
    dom.undefine()
    samples = wait_for(port, lambda s: ip_series(s, name) == [], EVENT_WAIT)
    assert ip_series(samples, name) == []
    assert all(s.labels["domain"] != name for s in samples.get("guestmeta_domain_read_error", []))

    # All of it came through events: no full pass ran in between.
    assert value(samples, "guestmeta_full_passes_total") == passes
    assert value(samples, "guestmeta_libvirt_events_total") >= 3


def test_running_domain_and_counts(exporter_port: int, make_domain: Callable[..., Any]) -> None:
    port = exporter_port
    before = scrape(port)

    def count(samples: dict[str, list[Any]], name: str, **match: str) -> float:
        return sum(
            s.value
            for s in samples.get(name, [])
            if all(s.labels.get(k) == v for k, v in match.items())
        )

    dom = make_domain("exp-run", start=True, macs=("52:54:00:aa:00:09",))
    libvirt_domain.write(
        dom,
        InstanceMetadata(
            name="web-1",
            project_uuid=PROJECT,
            ports=(
                PortIPs("port-r", (IP("fixed", "10.30.0.5", 4), IP("fixed", "2001:db8:30::5", 6))),
            ),
        ),
        libvirt_domain.LIVE | libvirt_domain.CONFIG,
    )
    wanted = [
        labels(dom, "port-r", "10.30.0.5", "fixed", "4"),
        labels(dom, "port-r", "2001:db8:30::5", "fixed", "6"),
    ]
    samples = wait_for(port, lambda s: ip_series(s, dom.name()) == wanted, EVENT_WAIT)
    assert ip_series(samples, dom.name()) == wanted
    # Other tests change the daemon's domains too, so compare only what this one adds:
    # at least one more running domain and one more fixed address of each version.
    assert count(samples, "guestmeta_host_domains", state="running") >= 1
    for version in ("4", "6"):
        assert count(samples, "guestmeta_host_addresses", type="fixed", ip_version=version) >= 1
    assert set(samples["guestmeta_host_domains"][0].labels) == {"host", "state"}
    assert set(samples["guestmeta_host_addresses"][0].labels) == {"host", "type", "ip_version"}
    assert before.keys() <= samples.keys()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    ("stop_with", "started_with"),
    [
        # A script's background job inherits SIGINT ignored (as CI started it): Python's
        # KeyboardInterrupt never comes, so the exporter must handle the signal itself.
        (signal.SIGINT, _ignore_sigint),
        (signal.SIGTERM, None),  # how systemd stops it
    ],
    ids=["sigint-inherited-ignored", "sigterm"],
)
def test_exporter_command(
    libvirtd: object,
    make_domain: Callable[..., Any],
    stop_with: signal.Signals,
    started_with: Callable[[], None] | None,
) -> None:
    dom = make_domain(
        "exp-cli", metadata=element(ports=[("port-c", [("fixed", "10.40.0.5", "4")])])
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            GUESTMETA,
            "exporter",
            "--connect",
            URI,
            "--listen",
            f"127.0.0.1:{port}",
            "--full-pass",
            "3600",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=started_with,
    )
    try:
        deadline = time.monotonic() + 30
        samples: dict[str, list[Any]] = {}
        wanted = [labels(dom, "port-c", "10.40.0.5", "fixed", "4")]
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            try:
                samples = scrape(port)
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
                continue
            if ip_series(samples, dom.name()) == wanted:
                break
            time.sleep(0.1)
        assert ip_series(samples, dom.name()) == wanted
        assert value(samples, "guestmeta_libvirt_up") == 1
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/nothing", timeout=5)
        assert missing.value.code == 404
    finally:
        proc.send_signal(stop_with)
        try:
            _out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
    assert proc.returncode == 0, err
    assert f"serving http://127.0.0.1:{port}/metrics" in err


def test_exporter_survives_a_libvirtd_restart(exporter_port: int, libvirtd: LibvirtDaemon) -> None:
    """After a restart the index reconnects, re-reads everything and follows events again."""
    port = exporter_port
    libvirtd.restart_libvirtd()
    fresh = libvirt.open(URI)
    dom = define(
        fresh,
        "gmtest-inv-restart",
        metadata=element(ports=[("port-r", [("fixed", "10.30.0.7", "4")])]),
    )
    try:
        want = [labels(dom, "port-r", "10.30.0.7", "fixed", "4")]
        samples = wait_for(
            port,
            lambda s: value(s, "guestmeta_libvirt_up") == 1 and ip_series(s, dom.name()) == want,
            60,
        )
        assert value(samples, "guestmeta_libvirt_up") == 1
        assert ip_series(samples, dom.name()) == want
        assert value(samples, "guestmeta_full_passes_total") >= 2  # one more after reconnecting
    finally:
        remove(dom)
        fresh.close()
