"""Hostile apply files: each is refused in its exact lines, on SQLite and PostgreSQL alike,
with the store as it was; values at the limits are accepted on both.

The cases are what an adversary tried against the first release (crashes, hangs,
tracebacks, silent data loss, forged lines, SQLite accepting what PostgreSQL refuses)
and the rest of each class. Each is applied on top of ``tests/data/rejects/base.yaml``
through the ``store`` fixture, so "unchanged" is checked against a populated store.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from guestmeta.apply import ApplyError, SourceError, load_document, plan_apply
from guestmeta.store import Store
from tests.apply.test_rejects import apply_base

LONG = "x" * 256
LIMIT = "y" * 255
# How messages quote LONG: capped, with its length (labels at 64 characters, values at 40).
LONG_LABEL = "'" + "x" * 63 + "... (256 characters)"
LONG_VALUE = "'" + "x" * 39 + "... (256 characters)"
BUDGET = (
    "hostile.yaml: expands to more than {} nodes and characters "
    "(YAML aliases repeat what they name)"
)


def budget(text: str) -> str:
    """The refusal of an alias bomb: the budget is four per character of text, plus 64 Ki."""
    return BUDGET.format(4 * len(text) + 65536)


def _alias_bomb() -> str:
    """Nine levels of nine aliases: 387 million strings once expanded, 1 KB written."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    body = "".join(f"      {line}\n" for line in lines)
    head = "servers:\n  - name: s\n    flavor:\n      vcpus: 1\n      ram: 1\n"
    return f"{head}      extra_specs:\n{body}"


def _huge_aliased_string() -> str:
    """One 100 KB string named 3,000 times: 300 MB of stderr if every use were echoed."""
    big = "z" * 100_000
    uses = "\n".join(f"  - {{network_id: *big, name: p{i}}}" for i in range(3000))
    return f'networks:\n  - {{name: &big "{big}"}}\nports:\n{uses}\n'


def case(case_id: str, text: str, *lines: str, error: type[Exception] = ApplyError) -> Any:
    return pytest.param(textwrap.dedent(text).lstrip("\n"), lines, error, id=case_id)


def source(case_id: str, text: str, line: str) -> Any:
    return case(case_id, text, line, error=SourceError)


CASES = [
    # -- parser bounds: crashes, hangs and unbounded memory ---------------------------------
    source(
        "alias-bomb-under-extra-specs",
        _alias_bomb(),
        budget(_alias_bomb()),
    ),
    source(
        "huge-string-aliased-thousands-of-times",
        _huge_aliased_string(),
        budget(_huge_aliased_string()),
    ),
    source(
        "yaml-50000-nested-flow-sequences",
        "networks: " + "[" * 50_000 + "]" * 50_000,
        "hostile.yaml: nested deeper than 64 levels at line 1",
    ),
    source(
        "yaml-50000-nested-block-sequences",
        "networks:\n" + "- " * 50_000 + "x\n",
        "hostile.yaml: nested deeper than 64 levels at line 2",
    ),
    source(
        "yaml-nesting-hidden-behind-quoted-brackets",
        "networks: " + '[ "]", ' * 50_000 + "]" * 50_000,
        "hostile.yaml: nested deeper than 64 levels at line 1",
    ),
    source(
        "json-100000-nested-arrays",
        '{"networks": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "hostile.yaml: nested deeper than 64 levels",
    ),
    source(
        "json-nested-just-over-the-limit",
        '{"networks": [{"name": "n", "x": ' + "[" * 63 + "]" * 63 + "}]}",
        "hostile.yaml: networks[0].x" + "[0]" * 61 + ": nested deeper than 64 levels",
    ),
    source(
        "four-million-empty-mappings",
        '{"networks": [' + "{}," * 4_000_000 + "{}]}",
        "hostile.yaml: more than 4000000 values",
    ),
    source(
        "integer-of-5000-digits",
        "networks:\n  - {name: n, mtu: " + "9" * 5000 + "}\n",
        "hostile.yaml: not valid YAML: Exceeds the limit (4300 digits) for integer string "
        "conversion: value has 5000 digits; use sys.set_int_max_str_digits() to increase "
        "the limit",
    ),
    # -- duplicate keys: last-wins would drop data ------------------------------------------
    source(
        "yaml-collection-twice",
        """
        networks:
          - {name: a}
        networks:
          - {name: b}
        """,
        "hostile.yaml: not valid YAML: duplicate key 'networks' at line 3 column 1",
    ),
    source(
        "yaml-field-twice",
        """
        networks:
          - name: a
            mtu: 1500
            mtu: 9000
        """,
        "hostile.yaml: not valid YAML: duplicate key 'mtu' at line 4 column 5",
    ),
    source(
        "json-collection-twice",
        '{"networks": [{"name": "a"}], "networks": []}',
        "hostile.yaml: not valid JSON: duplicate key 'networks'",
    ),
    # -- keys and strings no store can hold ------------------------------------------------
    source(
        "top-level-integer-key",
        "1: []\n",
        "hostile.yaml: top level: key 1 must be a string, not an integer (quote it)",
    ),
    source(
        "top-level-null-key",
        "null: []\n",
        "hostile.yaml: top level: key None must be a string, not null (quote it)",
    ),
    source(
        "top-level-date-key",
        "2024-01-01: []\n",
        "hostile.yaml: top level: key datetime.date(2024, 1, 1) must be a string, "
        "not a date (quote it)",
    ),
    source(
        "metadata-integer-key",
        "servers:\n  - {name: s, metadata: {1: a}}\n",
        "hostile.yaml: servers[0].metadata: key 1 must be a string, not an integer (quote it)",
    ),
    source(
        "json-lone-surrogate",
        '{"networks": [{"name": "\\ud800"}]}',
        "hostile.yaml: networks[0].name: '\\ud800' contains a lone surrogate",
    ),
    source(
        "nul-in-a-name",
        'networks:\n  - {name: "a\\0b"}\n',
        "hostile.yaml: networks[0].name: 'a\\x00b' contains a NUL character",
    ),
    source(
        "nul-in-a-key",
        'servers:\n  - {name: s, metadata: {"k\\0": v}}\n',
        "hostile.yaml: servers[0].metadata: 'k\\x00' contains a NUL character",
    ),
    # -- field limits: one rule for both backends ------------------------------------------
    case(
        "name-over-255",
        f"networks:\n  - {{name: {LONG}}}\n",
        f"hostile.yaml: networks[0] ({LONG_LABEL}): name: {LONG_VALUE} is over 255 characters",
    ),
    case(
        "id-over-255",
        f"networks:\n  - {{id: {LONG}, name: n}}\n",
        f"hostile.yaml: networks[0] (n): id: {LONG_VALUE} is over 255 characters",
    ),
    case(
        "host-over-255",
        f'servers:\n  - {{name: s, "OS-EXT-SRV-ATTR:host": {LONG}}}\n',
        f"hostile.yaml: servers[0] (s): OS-EXT-SRV-ATTR:host: {LONG_VALUE} is over 255 characters",
    ),
    case(
        "port-device-id-over-255",
        f"ports:\n  - {{name: p, network_id: lan, device_id: {LONG}}}\n",
        "hostile.yaml: ports[0] (p): device_id: unknown server '"  # quoted at 80
        + "x" * 79
        + "... (256 characters)",
        f"hostile.yaml: ports[0] (p): device_id: {LONG_VALUE} is over 255 characters",
    ),
    case(
        "floating-address-padded-past-64",
        f'floatingips:\n  - {{floating_ip_address: "{" " * 70}203.0.113.9"}}\n',
        f"hostile.yaml: floatingips[0]: floating_ip_address: {' ' * 70 + '203.0.113.9'!r:.80}"
        "... (81 characters) is not an IP address",
    ),
    case(
        "control-character-in-a-server-name",
        'servers:\n  - {name: "web\\x1b[2J"}\n',
        "hostile.yaml: servers[0] ('web\\x1b[2J'): name: 'web\\x1b[2J' contains a control "
        "character",
        "hostile.yaml: servers[0] ('web\\x1b[2J'): OS-EXT-SRV-ATTR:instance_name: "
        "'web\\x1b[2J' contains a control character",
    ),
    case(
        "newline-in-a-name-cannot-forge-a-line",
        'networks:\n  - {name: "a\\nhostile.yaml: networks[9]: fine", mtu: 1}\n',
        "hostile.yaml: networks[0] ('a\\nhostile.yaml: networks[9]: fine'): name: "
        "'a\\nhostile.yaml: networks[9]: fine' contains a control character",
        "hostile.yaml: networks[0] ('a\\nhostile.yaml: networks[9]: fine'): mtu: "
        "1 is outside 68-65535",
    ),
    case(
        "extra-spec-value-a-list",
        "servers:\n  - name: s\n    flavor: {vcpus: 1, ram: 1, extra_specs: {k: [1, 2]}}\n",
        "hostile.yaml: servers[0] (s): flavor.extra_specs.k: must be a string, not a list",
    ),
    # -- IPv6 zone ids ------------------------------------------------------------------------
    case(
        "zone-id-in-a-fixed-ip",
        """
        ports:
          - name: p
            network_id: lan
            fixed_ips: [{subnet_id: lan-v6, ip_address: "2001:db8:50::10%eth1"}]
        """,
        "hostile.yaml: ports[0] (p): fixed_ips[0].ip_address: '2001:db8:50::10%eth1' is not "
        "an IP address",
    ),
    case(
        "zone-id-in-a-gateway",
        """
        subnets:
          - {name: s, network_id: lan, cidr: "2001:db8:60::/64", gateway_ip: "2001:db8:60::1%eth1"}
        """,
        "hostile.yaml: subnets[0] (s): gateway_ip: '2001:db8:60::1%eth1' is not an IP address",
    ),
    case(
        "zone-id-in-a-cidr",
        """
        subnets:
          - {name: s, network_id: lan, cidr: "2001:db8:60::%eth1/64", ip_version: 6}
        """,
        "hostile.yaml: subnets[0] (s): cidr: '2001:db8:60::%eth1/64' is not a CIDR",
    ),
]


@pytest.mark.parametrize(("text", "lines", "error"), CASES)
def test_refused_in_exact_lines_and_store_unchanged(
    store: Store, text: str, lines: tuple[str, ...], error: type[Exception]
) -> None:
    apply_base(store)
    revision, before = store.revision(), store.load()
    with pytest.raises(error) as raised:
        doc = load_document("hostile.yaml", text=text)
        store.change(lambda current: plan_apply(current, [doc]))
    value = raised.value
    got = value.lines if isinstance(value, ApplyError) else str(value).splitlines()
    assert got == list(lines)
    assert all(len(line) < 1000 for line in got)
    assert store.revision() == revision
    assert store.load() == before


def test_values_at_the_limits_are_stored_alike_on_both_backends(store: Store) -> None:
    """What one backend takes, the other takes too: 255 characters, any printable text."""
    apply_base(store)
    unicode_name = "名前-é-🙂" * 30  # 240 characters, many bytes each
    text = f"""
networks:
  - {{id: {LIMIT}, name: {LIMIT}}}
ports:
  - {{id: p-{LIMIT[2:]}, name: {unicode_name}, network_id: {LIMIT}, device_id: {LIMIT}}}
servers:
  - name: {LIMIT}
    "OS-EXT-SRV-ATTR:host": {LIMIT}
    "OS-EXT-SRV-ATTR:instance_name": {LIMIT}
    metadata: {{{"k" * 255}: {"v" * 255}}}
floatingips:
  - {{floating_ip_address: " 203.0.113.9", floating_network_id: public}}
"""
    doc = load_document("limits.yaml", text=text)
    store.change(lambda current: plan_apply(current, [doc]))
    with Store(store.url) as again:
        loaded = again.load()
    assert loaded.networks[LIMIT].name == LIMIT
    assert loaded.ports[f"p-{LIMIT[2:]}"].name == unicode_name
    (server,) = (s for s in loaded.servers.values() if s.name == LIMIT)
    assert server.host == LIMIT and server.domain_name == LIMIT
    addresses = {f.floating_ip_address for f in loaded.floatingips.values()}
    assert "203.0.113.9" in addresses  # stored in its one canonical spelling
