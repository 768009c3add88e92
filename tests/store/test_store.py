"""The store on SQLite and PostgreSQL: revisions, waiting, lookups, atomicity, migrations."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from importlib import resources
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from guestmeta.apply import ApplyError, load_document, plan_apply
from guestmeta.apply.edit import plan_detach
from guestmeta.apply.source import Document
from guestmeta.model import FloatingIP, Network, Plan, Topology
from guestmeta.store import Result, Store, StoreError, schema
from guestmeta.store.migrate import HEAD, current_revision
from tests.conftest import DATA, DUMP, DUMP_FILES

NET_PRIVATE = "d8d10649-3e54-531f-bf48-c05e4ae73125"
NET_VLAN120 = "91b00110-69b5-5b95-a762-2fd7ea3420de"
NET_STORAGE = "2ece46d2-a32b-5d3a-a675-6d52c7ff82bc"
WEB01 = "7990f02f-b7a4-5e19-a54a-3db5d9dd5390"
K8S01 = "2ab2c9d6-faaf-5933-98da-d1602c191aac"
PORT_WEB01 = "1215dd15-e517-5e18-b108-a93d2ab2df1c"


def minimal() -> Document:
    return load_document(str(DATA / "minimal.yaml"))


def network_doc(name: str) -> Document:
    return load_document(f"{name}.yaml", f"networks:\n  - name: {name}\n")


def apply(store: Store, docs: list[Document]) -> Result:
    return store.change(lambda current: plan_apply(current, docs))


@pytest.fixture
def dump(store: Store) -> Store:
    apply(store, [load_document(str(DUMP / name)) for name in DUMP_FILES])
    return store


# -- revisions ---------------------------------------------------------------------------


def test_revision_starts_at_zero_and_moves_once_per_changing_apply(store: Store) -> None:
    assert store.revision() == 0
    assert apply(store, [minimal()]).revision == 1
    assert store.revision() == 1
    assert apply(store, [minimal()]).revision == 1  # no change, no new revision
    assert store.revision() == 1
    assert apply(store, [network_doc("second")]).revision == 2
    with pytest.raises(ApplyError):
        apply(store, [load_document("bad.yaml", "networks:\n  - name: bad\n    mtu: 10\n")])
    assert store.revision() == 2


def test_wait_for_revision_wakes_up_when_another_writer_applies(
    store: Store, store_url: str
) -> None:
    committed: dict[str, float] = {}
    with Store(store_url) as writer:

        def write() -> None:
            time.sleep(0.3)
            apply(writer, [minimal()])
            committed["at"] = time.monotonic()

        thread = threading.Thread(target=write)
        started = time.monotonic()
        thread.start()
        got = store.wait_for_revision(0, timeout=10)
        returned = time.monotonic()
        thread.join()
    assert got == 1
    assert returned - started >= 0.25  # it did wait for the writer
    # and woke up on the commit, long before the 10 s timeout (bound generous for busy CI)
    assert returned - committed["at"] < 2.0


def test_wait_for_revision_times_out_with_the_old_revision(store: Store) -> None:
    apply(store, [minimal()])
    started = time.monotonic()
    got = store.wait_for_revision(1, timeout=0.3)
    elapsed = time.monotonic() - started
    assert got == 1
    assert 0.25 <= elapsed < 1.5


def test_wait_for_revision_returns_at_once_when_already_past(store: Store) -> None:
    apply(store, [minimal()])
    started = time.monotonic()
    assert store.wait_for_revision(0, timeout=10) == 1
    assert time.monotonic() - started < 2.0  # not the 10 s timeout


# -- lookups -----------------------------------------------------------------------------


def test_server_by_network_and_fixed_ip(dump: Store) -> None:
    assert dump.server_id_for_address(NET_PRIVATE, "10.20.0.10") == WEB01
    assert dump.server_id_for_address(NET_PRIVATE, "2001:db8:20:0:f816:3eff:fee1:4bf8") == WEB01
    assert dump.server_id_for_address(NET_PRIVATE, "2001:db8:21::100") == WEB01
    # k8s-worker-01's trunk sub-ports: the addresses are its server's.
    assert dump.server_id_for_address(NET_VLAN120, "192.168.120.151") == K8S01
    assert dump.server_id_for_address(NET_STORAGE, "172.16.50.11") == K8S01
    # Unknown address; known address on the wrong network; the router's gateway address.
    assert dump.server_id_for_address(NET_PRIVATE, "10.20.0.250") is None
    assert dump.server_id_for_address(NET_VLAN120, "10.20.0.10") is None
    assert dump.server_id_for_address(NET_PRIVATE, "10.20.0.1") is None


def test_address_lookup_follows_a_detach(dump: Store) -> None:
    dump.change(lambda current: plan_detach(current, PORT_WEB01))
    assert dump.server_id_for_address(NET_PRIVATE, "10.20.0.10") is None
    assert dump.server_id_for_address(NET_PRIVATE, "10.20.0.11") is not None  # web-02


def test_server_by_domain_name(dump: Store) -> None:
    server = dump.server_by_domain("instance-0000002a")
    assert server is not None
    assert server.id == WEB01
    assert server == dump.load().servers[WEB01]
    on_host = dump.server_by_domain("instance-0000002a", host="compute-01")
    assert on_host is not None and on_host.id == WEB01
    assert dump.server_by_domain("instance-0000002a", host="compute-02") is None
    assert dump.server_by_domain("instance-00000fff") is None


def test_servers_on_host(dump: Store) -> None:
    # Servers i = 0..35 of the dump sit on compute-(i % 4 + 1): i = 0, 4, 8, ... 32.
    names = [s.name for s in dump.servers_on_host("compute-01")]
    assert names == [
        "app-01",
        "app-05",
        "app-09",
        "db-01",
        "db-05",
        "k8s-worker-01",
        "web-01",
        "web-05",
        "web-09",
    ]
    assert all(s.host == "compute-01" for s in dump.servers_on_host("compute-01"))
    assert dump.servers_on_host("compute-99") == []


def test_moving_a_server_moves_it_between_hosts(store: Store) -> None:
    apply(store, [minimal()])
    assert [s.name for s in store.servers_on_host("kvm1")] == ["vm1"]
    moved = (DATA / "minimal.yaml").read_text().replace("host: kvm1", "host: kvm2")
    apply(store, [load_document("minimal.yaml", moved)])
    assert store.servers_on_host("kvm1") == []
    assert [s.name for s in store.servers_on_host("kvm2")] == ["vm1"]
    assert store.server_by_domain("vm1", host="kvm1") is None
    found = store.server_by_domain("vm1", host="kvm2")
    assert found is not None and found.name == "vm1"


# -- all or nothing ----------------------------------------------------------------------


def test_a_failing_compute_leaves_everything_unchanged(store: Store) -> None:
    apply(store, [minimal()])
    before = store.load()

    def boom(current: Topology) -> Plan:
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError, match="refused"):
        store.change(boom)
    assert store.revision() == 1
    assert store.load() == before


def test_preview_shows_the_change_and_writes_nothing(store: Store) -> None:
    apply(store, [minimal()])
    before = store.load()
    doc = network_doc("extra")
    seen = store.preview(lambda current: plan_apply(current, [doc]))
    assert [(c.action, c.kind) for c in seen.changes] == [("create", "networks")]
    assert seen.revision == 1  # the current one: nothing moved it
    assert "extra" in {n.name for n in seen.topology.networks.values()}
    assert store.revision() == 1
    assert store.load() == before


def test_a_write_failing_half_way_is_rolled_back(store: Store) -> None:
    # Bypass validation: a new network (written first) and two floating IPs of one address
    # (the second insert breaks the unique index). The network must not survive.
    apply(store, [minimal()])
    before = store.load()

    def broken(current: Topology) -> Plan:
        new = current.copy()
        new.networks["net-x"] = Network(id="net-x", name="x")
        new.floatingips["fip-a"] = FloatingIP(id="fip-a", floating_ip_address="198.51.100.7")
        new.floatingips["fip-b"] = replace(new.floatingips["fip-a"], id="fip-b")
        return Plan.between(current, new)

    with pytest.raises(StoreError) as caught:  # one line, the driver's cause kept
        store.change(broken)
    assert isinstance(caught.value.__cause__, IntegrityError)
    assert str(caught.value).startswith("cannot write to store ")
    assert "\n" not in str(caught.value)
    assert store.revision() == 1
    assert store.load() == before


def test_two_writers_at_once_both_succeed(store: Store, store_url: str) -> None:
    barrier = threading.Barrier(2)
    results: dict[str, Result] = {}
    errors: list[BaseException] = []

    def write(name: str) -> None:
        docs = [network_doc(name)]

        def slow(current: Topology) -> Plan:
            time.sleep(0.2)  # hold the write lock while the other writer arrives
            return plan_apply(current, docs)

        try:
            with Store(store_url) as own:
                barrier.wait(timeout=10)
                results[name] = own.change(slow)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in ("left", "right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(r.revision for r in results.values()) == [1, 2]
    assert store.revision() == 2
    assert sorted(n.name for n in store.load().networks.values()) == ["left", "right"]


# -- persistence and schema --------------------------------------------------------------


def test_reopening_the_store_keeps_the_data(store: Store, store_url: str) -> None:
    apply(store, [minimal()])
    before = store.load()
    store.close()
    with Store(store_url) as reopened:
        assert reopened.revision() == 1
        assert reopened.load() == before
        assert apply(reopened, [minimal()]).changes == []


def test_migration_head_is_the_one_the_store_expects(store: Store) -> None:
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("guestmeta.store") / "migrations")
    )
    scripts = ScriptDirectory.from_config(config)
    assert scripts.get_current_head() == HEAD
    with store.engine.connect() as conn:
        assert current_revision(conn) == HEAD


def test_migrated_schema_matches_the_table_definitions(store: Store) -> None:
    with store.engine.connect() as conn:
        differences: list[Any] = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    assert differences == []


def test_a_watch_wakes_on_each_change_and_times_out_with_the_old_revision(
    store: Store, store_url: str
) -> None:
    watch = store.watch()
    try:
        assert watch.wait(-1, timeout=5) == 0  # already past: at once
        started = time.monotonic()
        assert watch.wait(0, timeout=0.3) == 0
        assert time.monotonic() - started >= 0.25
        with Store(store_url) as writer:
            for expected in (1, 2):
                doc = network_doc(f"n{expected}")
                timer = threading.Timer(0.2, apply, (writer, [doc]))
                timer.start()
                got = watch.wait(expected - 1, timeout=10)
                timer.join()
                assert got == expected
    finally:
        watch.close()


def test_a_watch_whose_connection_died_raises_and_a_new_one_catches_up(pg_store: Store) -> None:
    store, store_url = pg_store, pg_store.url
    watch = store.watch()
    watch.wait(-1, timeout=1)
    pid = watch._raw.driver_connection.info.backend_pid
    with Store(store_url) as writer:
        with writer.engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            conn.commit()
        apply(writer, [minimal()])  # a change while the watch is down
    with pytest.raises(Exception):  # noqa: B017 (the driver's error, whatever its class)
        watch.wait(0, timeout=2)
    watch.close()
    again = store.watch()
    try:
        assert again.wait(0, timeout=2) == 1  # caught up on reconnecting
    finally:
        again.close()


def test_nic_addresses_and_passwords_are_kept_per_server_and_die_with_it(dump: Store) -> None:
    server = next(iter(dump.load().servers.values()))
    start = dump.revision()
    assert dump.set_nic_addresses(server.id, {"FA:16:3E:00:00:01": ("pci", "0000:00:03.0")})
    assert dump.revision() == start + 1
    assert not dump.set_nic_addresses(server.id, {"fa:16:3e:00:00:01": ("pci", "0000:00:03.0")})
    assert dump.revision() == start + 1  # the same again: nothing written
    assert dump.nic_addresses() == {"fa:16:3e:00:00:01": ("pci", "0000:00:03.0")}
    revision, _topology, nics = dump.load_at()
    assert (revision, nics) == (start + 1, {"fa:16:3e:00:00:01": ("pci", "0000:00:03.0")})
    assert dump.set_password(server.id, "secret")
    assert not dump.set_password(server.id, "other")
    assert dump.password(server.id) == "secret"
    assert dump.revision() == start + 1  # a password is not part of the topology

    def gone(current: Topology) -> Any:
        new = current.copy()
        new.servers = {k: v for k, v in current.servers.items() if k != server.id}
        return Plan.between(current, new)

    dump.change(gone)
    assert dump.nic_addresses() == {}
    assert dump.password(server.id) is None


def test_a_stored_item_an_older_version_allowed_is_one_line(store: Store) -> None:
    """A network stored before names had a limit (possible on SQLite) does not crash a load."""
    apply(store, [network_doc("ok")])
    long_name = "n" * 300
    with store.engine.begin() as conn:
        conn.execute(
            schema.networks.insert(),
            {"id": "net-old", "name": "old", "data": {"id": "net-old", "name": long_name}},
        )
    with pytest.raises(StoreError) as caught:
        store.load()
    assert str(caught.value) == (
        "stored network 'net-old' breaks a rule this version enforces: "
        f"name: '{'n' * 39}... (300 characters) is over 255 characters"
    )
