"""Identity by source address: the same IP on two networks reaches two different servers.

Two ways to put one address on two networks:

- **Network namespaces** the test creates: a host namespace H with two veth links, one to
  guest namespace A and one to guest namespace B. Both guests are 10.99.0.5/24 and both
  host sides are 10.99.0.1/24, as two libvirt networks with the same subnet would be: A's
  link is enslaved to a bridge in H that holds the address (as a guest's tap device is
  to virbr0), B's host end holds it itself. ``guestmeta serve`` runs inside H with one
  listener per link, bound to the link's device (``interface``) and mapped to the link's
  network, on the same address and port; and again on 169.254.169.254:80, which H holds
  on both links and the guests reach through their default route (the operator guide's
  recipe), and by DNAT from 169.254.169.254:81 to a port per network (the guide's other
  recipe; iptables rules in H only). Nothing is added to the root namespace: links are
  created inside H and their guest ends moved straight into A and B.
- **Loopback**: two networks whose subnets are both 127.77.0.0/24; the client binds its
  socket to a guest's 127.77.0.x address, so the kernel delivers it from that source.
  No namespace and no privilege needed; the listener's ``network`` alone decides.

Every answer is checked for the caller's own uuid and for the absence of the other's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from guestmeta.apply import load_document, plan_apply
from guestmeta.model import Topology
from guestmeta.model.changes import Plan
from guestmeta.service.identity import sign
from guestmeta.store import Store
from tests.service.conftest import Answer, Service, free_port, request, start, stop

META = "/openstack/latest/meta_data.json"


def topology_text(prefix: str, first: str, second: str, subnet: str) -> str:
    """Networks -a and -b with one subnet; ``first`` on both, ``second`` on -a only."""
    return f"""
networks:
  - {{name: {prefix}-a}}
  - {{name: {prefix}-b}}
subnets:
  - {{name: {prefix}-a-v4, network_id: {prefix}-a, cidr: {subnet}}}
  - {{name: {prefix}-b-v4, network_id: {prefix}-b, cidr: {subnet}}}
ports:
  - {{name: {prefix}-a-nic, network_id: {prefix}-a, fixed_ips: [{{ip_address: {first}}}]}}
  - {{name: {prefix}-a2-nic, network_id: {prefix}-a, fixed_ips: [{{ip_address: {second}}}]}}
  - {{name: {prefix}-b-nic, network_id: {prefix}-b, fixed_ips: [{{ip_address: {first}}}]}}
servers:
  - {{name: {prefix}-guest-a, networks: [{{port: {prefix}-a-nic}}]}}
  - {{name: {prefix}-guest-a2, networks: [{{port: {prefix}-a2-nic}}]}}
  - {{name: {prefix}-guest-b, networks: [{{port: {prefix}-b-nic}}]}}
"""


def fill(url: str, text: str) -> dict[str, str]:
    """The store at ``url`` holding ``text``; server name -> id."""
    topology = plan_apply(Topology(), [load_document("topology.yaml", text)]).topology
    with Store(url) as store:
        store.change(lambda current: Plan.between(current, topology))
    return {server.name: server.id for server in topology.servers.values()}


def uuid_of(answer: Answer) -> str:
    assert answer.status == 200, (answer.status, answer.body)
    return str(json.loads(answer.body)["uuid"])


def refused(answer: Answer, status: int, ids: dict[str, str]) -> None:
    assert answer.status == status, (answer.status, answer.body)
    for server_id in ids.values():
        assert server_id.encode() not in answer.body


# --- loopback: no namespace ---------------------------------------------------------------

LOOP_TRUSTED = "127.77.0.99"
LOOP_SECRET = "loop-secret"
Loopback = tuple[Service, dict[str, int], dict[str, str]]  # service, ports, server ids


@pytest.fixture(scope="module")
def loopback(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loopback]:
    tmp = tmp_path_factory.mktemp("loopback")
    db = f"sqlite:///{tmp / 'store.db'}"
    ids = fill(db, topology_text("lo", "127.77.0.10", "127.77.0.20", "127.77.0.0/24"))
    ports = {"lo-a": free_port(), "lo-b": free_port(), "any": free_port()}
    config = f"""
rate_limit = 0
trusted_proxies = ["{LOOP_TRUSTED}"]
proxy_shared_secret = "{LOOP_SECRET}"
[[listen]]
address = "127.0.0.1:{ports["lo-a"]}"
network = "lo-a"
[[listen]]
address = "127.0.0.1:{ports["lo-b"]}"
network = "lo-b"
[[listen]]
address = "127.0.0.1:{ports["any"]}"
"""
    service = start(tmp, db, config, port=ports["lo-a"], admin=free_port())
    try:
        yield service, ports, ids
    finally:
        stop(service)


def test_loopback_same_address_on_two_networks_is_two_servers(
    loopback: Loopback,
) -> None:
    _service, ports, ids = loopback
    on_a = request(ports["lo-a"], "GET", META, source="127.77.0.10")
    on_b = request(ports["lo-b"], "GET", META, source="127.77.0.10")
    assert uuid_of(on_a) == ids["lo-guest-a"]
    assert uuid_of(on_b) == ids["lo-guest-b"]
    assert ids["lo-guest-b"].encode() not in on_a.body
    assert ids["lo-guest-a"].encode() not in on_b.body
    # An address nobody has on the listener's network is refused, not guessed.
    refused(request(ports["lo-b"], "GET", META, source="127.77.0.20"), 404, ids)
    refused(request(ports["lo-a"], "GET", META, source="127.77.0.30"), 404, ids)


def test_loopback_listener_without_network_refuses_an_ambiguous_address(
    loopback: Loopback,
) -> None:
    _service, ports, ids = loopback
    refused(request(ports["any"], "GET", META, source="127.77.0.10"), 404, ids)
    # An address only one server has anywhere is that server, even without a network.
    assert uuid_of(request(ports["any"], "GET", META, source="127.77.0.20")) == ids["lo-guest-a2"]


def test_loopback_forwarded_for_counts_only_from_a_trusted_proxy(
    loopback: Loopback,
) -> None:
    _service, ports, ids = loopback
    forged = {"X-Forwarded-For": "127.77.0.20"}
    own = request(ports["lo-a"], "GET", META, headers=forged, source="127.77.0.10")
    assert uuid_of(own) == ids["lo-guest-a"]
    assert ids["lo-guest-a2"].encode() not in own.body
    vouched = request(ports["lo-a"], "GET", META, headers=forged, source=LOOP_TRUSTED)
    assert uuid_of(vouched) == ids["lo-guest-a2"]
    # The proxy's own entry is the last one; whatever the caller put before it is ignored.
    chain = {"X-Forwarded-For": "127.77.0.20, 127.77.0.10"}
    last = request(ports["lo-a"], "GET", META, headers=chain, source=LOOP_TRUSTED)
    assert uuid_of(last) == ids["lo-guest-a"]
    # The proxy itself is no server.
    refused(request(ports["lo-a"], "GET", META, source=LOOP_TRUSTED), 404, ids)
    garbage = {"X-Forwarded-For": "not-an-address"}
    refused(request(ports["lo-a"], "GET", META, headers=garbage, source=LOOP_TRUSTED), 404, ids)


def test_loopback_replayed_proxy_headers_mean_nothing_on_an_address_listener(
    loopback: Loopback,
) -> None:
    _service, ports, ids = loopback
    other = ids["lo-guest-b"]
    signed = {
        "X-Instance-ID": other,
        "X-Tenant-ID": "",
        "X-Instance-ID-Signature": sign(LOOP_SECRET, other),  # valid: as a proxy would send
    }
    answer = request(ports["lo-a"], "GET", META, headers=signed, source="127.77.0.10")
    assert uuid_of(answer) == ids["lo-guest-a"]
    assert other.encode() not in answer.body


def test_loopback_token_of_one_network_is_refused_on_the_other(
    loopback: Loopback,
) -> None:
    _service, ports, _ids = loopback
    ttl = {"X-aws-ec2-metadata-token-ttl-seconds": "60"}
    issued = request(ports["lo-a"], "PUT", "/latest/api/token", headers=ttl, source="127.77.0.10")
    assert issued.status == 200
    token = {"X-aws-ec2-metadata-token": issued.body.decode()}
    path = "/latest/meta-data/instance-id"
    assert request(ports["lo-a"], "GET", path, headers=token, source="127.77.0.10").status == 200
    # Same source address, other network: another server, so the token is not its own.
    assert request(ports["lo-b"], "GET", path, headers=token, source="127.77.0.10").status == 401


# --- network namespaces ---------------------------------------------------------------------

GUEST, HOST, PROXY, METADATA = "10.99.0.5", "10.99.0.1", "10.99.0.6", "169.254.169.254"
PORT, AMBIGUOUS_PORT = 8775, 8080
BRIDGE = "bra"  # A's side: a bridge, as virbr0; B's side: the veth end "hb" itself
DNAT_PORTS = {BRIDGE: 8781, "hb": 8782}  # the DNAT recipe's port per network


def ip(*args: str, netns: str | None = None) -> None:
    command = ["ip", *args] if netns is None else ["ip", "netns", "exec", netns, "ip", *args]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command)}: {done.stderr.strip()}")


class Namespaces:
    """H, A and B with veth links A<->H (through bridge ``bra``) and B<->H; removed on exit."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.host, self.a, self.b = (f"gmtest-{tag}-{role}" for role in ("h", "a", "b"))
        self.created: list[str] = []

    def __enter__(self) -> Namespaces:
        try:
            for name in (self.host, self.a, self.b):
                ip("netns", "add", name)
                self.created.append(name)
            ip("link", "set", "lo", "up", netns=self.host)
            ip("link", "add", BRIDGE, "type", "bridge", netns=self.host)
            ip("link", "set", BRIDGE, "up", netns=self.host)
            # Links are made inside H; the guest end moves straight into its namespace.
            for guest, host_end, guest_end, side in (
                (self.a, "ha", "ga", BRIDGE),
                (self.b, "hb", "gb", "hb"),
            ):
                veth = ("type", "veth", "peer", "name", guest_end, "netns", guest)
                ip("link", "add", host_end, *veth, netns=self.host)
                if side != host_end:
                    ip("link", "set", host_end, "master", side, netns=self.host)
                ip("addr", "add", f"{HOST}/24", "dev", side, netns=self.host)
                ip("addr", "add", f"{METADATA}/32", "dev", side, netns=self.host)
                ip("link", "set", host_end, "up", netns=self.host)
                ip("link", "set", "lo", "up", netns=guest)
                ip("addr", "add", f"{GUEST}/24", "dev", guest_end, netns=guest)
                ip("link", "set", guest_end, "up", netns=guest)
                ip("route", "add", "default", "via", HOST, netns=guest)
            ip("addr", "add", f"{PROXY}/24", "dev", "ga", netns=self.a)  # a proxy beside guest a
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        for name in reversed(self.created):  # deleting a namespace deletes its links
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        self.created.clear()


def netns_usable() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    return None


@pytest.fixture(scope="module")
def namespaces() -> Iterator[Namespaces]:
    reason = netns_usable()
    if reason:
        pytest.fail(reason)
    with Namespaces() as spaces:
        yield spaces


@pytest.fixture(scope="module")
def in_netns(
    tmp_path_factory: pytest.TempPathFactory, namespaces: Namespaces
) -> Iterator[tuple[Service, Namespaces, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("netns")
    db = f"sqlite:///{tmp / 'store.db'}"
    ids = fill(db, topology_text("net", GUEST, "10.99.0.7", "10.99.0.0/24"))
    config = f"""
rate_limit = 0
trusted_proxies = ["{PROXY}"]
[[listen]]
address = "{HOST}:{PORT}"
interface = "{BRIDGE}"
network = "net-a"
[[listen]]
address = "{HOST}:{PORT}"
interface = "hb"
network = "net-b"
[[listen]]
address = "{HOST}:{AMBIGUOUS_PORT}"
interface = "{BRIDGE}"
[[listen]]
address = "{METADATA}:80"
interface = "{BRIDGE}"
network = "net-a"
[[listen]]
address = "{METADATA}:80"
interface = "hb"
network = "net-b"
[[listen]]
address = "{HOST}:{DNAT_PORTS[BRIDGE]}"
interface = "{BRIDGE}"
network = "net-a"
[[listen]]
address = "{HOST}:{DNAT_PORTS["hb"]}"
interface = "hb"
network = "net-b"
"""
    if shutil.which("iptables"):
        for side, port in DNAT_PORTS.items():
            rule = ("-i", side, "-d", f"{METADATA}/32", "-p", "tcp", "--dport", "81")
            target = ("-j", "DNAT", "--to-destination", f"{HOST}:{port}")
            command = ["iptables", "-t", "nat", "-A", "PREROUTING", *rule, *target]
            subprocess.run(["ip", "netns", "exec", namespaces.host, *command], check=True)
    service = start(tmp, db, config, port=PORT, admin=9100, netns=namespaces.host)
    try:
        yield service, namespaces, ids
    finally:
        stop(service)


def ask(netns: str, path: str = META, port: int = PORT, host: str = HOST, **kw: object) -> Answer:
    return request(port, kw.pop("method", "GET"), path, host=host, netns=netns, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("host", "port"),
    [
        (HOST, PORT),  # the host's address on each link
        (METADATA, 80),  # 169.254.169.254 on each link, through the guests' default route
        (METADATA, 81),  # DNAT to a port per network
    ],
    ids=["link-address", "metadata-address", "dnat"],
)
def test_netns_same_ip_on_two_links_reaches_two_servers(
    in_netns: tuple[Service, Namespaces, dict[str, str]], host: str, port: int
) -> None:
    if port == 81 and shutil.which("iptables") is None:
        pytest.fail("iptables is not installed (scripts/install.sh installs it)")
    _service, spaces, ids = in_netns
    for _ in range(2):  # and again: the answer depends on the link, not on the order
        from_a, from_b = ask(spaces.a, host=host, port=port), ask(spaces.b, host=host, port=port)
        assert uuid_of(from_a) == ids["net-guest-a"]
        assert uuid_of(from_b) == ids["net-guest-b"]
        assert ids["net-guest-b"].encode() not in from_a.body
        assert ids["net-guest-a"].encode() not in from_b.body


def test_netns_listener_without_network_refuses_the_ambiguous_address(
    in_netns: tuple[Service, Namespaces, dict[str, str]],
) -> None:
    _service, spaces, ids = in_netns
    refused(ask(spaces.a, port=AMBIGUOUS_PORT), 404, ids)
    # 10.99.0.7 exists on one network only, so the same listener knows it.
    vouched = {"X-Forwarded-For": "10.99.0.7"}
    unique = ask(spaces.a, port=AMBIGUOUS_PORT, headers=vouched, source=PROXY)
    assert uuid_of(unique) == ids["net-guest-a2"]


def test_netns_forwarded_for_is_ignored_from_a_guest_and_honoured_from_the_proxy(
    in_netns: tuple[Service, Namespaces, dict[str, str]],
) -> None:
    _service, spaces, ids = in_netns
    forged = {"X-Forwarded-For": "10.99.0.7"}
    assert uuid_of(ask(spaces.a, headers=forged)) == ids["net-guest-a"]
    assert uuid_of(ask(spaces.b, headers=forged)) == ids["net-guest-b"]
    assert uuid_of(ask(spaces.a, headers=forged, source=PROXY)) == ids["net-guest-a2"]
    refused(ask(spaces.a, source=PROXY), 404, ids)  # the proxy itself is no server


def test_netns_token_of_guest_a_is_refused_to_guest_b(
    in_netns: tuple[Service, Namespaces, dict[str, str]],
) -> None:
    _service, spaces, _ids = in_netns
    ttl = {"X-aws-ec2-metadata-token-ttl-seconds": "60"}
    issued = ask(spaces.a, "/latest/api/token", method="PUT", headers=ttl)
    assert issued.status == 200
    token = {"X-aws-ec2-metadata-token": issued.body.decode()}
    assert ask(spaces.a, "/latest/meta-data/instance-id", headers=token).status == 200
    assert ask(spaces.b, "/latest/meta-data/instance-id", headers=token).status == 401


def test_netns_root_namespace_is_untouched(namespaces: Namespaces) -> None:
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    addresses = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    for name in ("ha", "hb", "ga", "gb", BRIDGE):
        assert f": {name}@" not in links and f": {name}:" not in links
    assert "10.99.0." not in addresses


def test_netns_are_removed_on_exit_even_after_a_failure() -> None:
    reason = netns_usable()
    if reason:
        pytest.fail(reason)
    spaces = Namespaces()
    with pytest.raises(RuntimeError), spaces:
        raise RuntimeError("a test failing inside")
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert spaces.host not in listed and spaces.a not in listed and spaces.b not in listed
    assert not Path(f"/run/netns/{spaces.a}").exists()
