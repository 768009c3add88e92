"""Property tests: generated hostile YAML and JSON never get past ``load_document`` and
``plan_apply`` as anything but a one-line refusal or a valid plan, within bounded time
and memory.

Three generators: trees of every JSON and YAML type (odd keys, control characters,
surrogates, NULs, deep nesting) dumped as JSON or YAML; YAML assembled from hostile
fragments (anchors, aliases, merge keys, tags, flow brackets, duplicate keys); and
arbitrary text.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guestmeta.apply import ApplyError, SourceError, load_document, plan_apply
from guestmeta.model import Topology

SECONDS = 10.0  # per example, generous for a loaded machine; a bomb takes minutes or never ends
PEAK_BYTES = 256 << 20

KEYS = st.one_of(
    st.sampled_from(["networks", "subnets", "ports", "servers", "floatingips", "keypairs",
                     "name", "id", "mtu", "network_id", "cidr", "fixed_ips", "ip_address",
                     "metadata", "flavor", "extra_specs", "device_id", "OS-EXT-SRV-ATTR:host",
                     "mac_address", "gateway_ip", "networks_links", "port"]),
    st.text(max_size=8),
)  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["10.0.0.1", "2001:db8::1%eth0", "999.1.1.1", "10.0.0.0/24", "\x00",
                     "\ud800", "a\nb", "x" * 300, "fa:16:3e:00:00:01"]),
)  # fmt: skip
TREES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=40,
)
FRAGMENTS = st.sampled_from([
    "networks:\n", "- ", "  ", "name: ", "&a ", "*a", "&b ", "*b", "<<: *a\n", "[", "]", "{",
    "}", ", ", "\n", "!!binary ", "!!set ", "!!python/object:os.system ", "? ", ": ", "'",
    '"', "\\x00", "1: ", "null: ", "2024-01-01: ", "networks:\n", "ports:\n", "mtu: 1500\n",
    "9" * 5000, "---\n", "...\n", "%YAML 1.1\n", "#", "\t", "\ufeff", "\ud800",
])  # fmt: skip


def dump(tree: Any, as_json: bool) -> str | None:
    try:
        if as_json:
            return json.dumps(tree)
        return yaml.safe_dump(tree, allow_unicode=True)
    except (ValueError, TypeError, yaml.YAMLError, UnicodeEncodeError):
        return None


def attempt(text: str, name: str) -> None:
    """Load and plan ``text``: it may be refused in lines, never raise anything else."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        doc = load_document(name, text=text)
        plan_apply(Topology(), [doc])
    except SourceError as exc:
        lines = str(exc).splitlines()
        assert lines and all(name in line and len(line) < 1000 for line in lines), lines
    except ApplyError as exc:
        assert exc.lines and all(len(line) < 1000 and line.isprintable() for line in exc.lines)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert time.monotonic() - started < SECONDS
    assert peak < PEAK_BYTES


COMMON = settings(
    max_examples=150,
    deadline=None,  # time is asserted in attempt, generously
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example],
)


@COMMON
@given(tree=TREES, as_json=st.booleans())
def test_generated_trees(tree: Any, as_json: bool) -> None:
    text = dump({"networks": tree} if isinstance(tree, list) else tree, as_json)
    if text is not None:
        attempt(text, "gen.json" if as_json else "gen.yaml")


@COMMON
@given(parts=st.lists(FRAGMENTS, max_size=60))
def test_hostile_yaml_fragments(parts: list[str]) -> None:
    attempt("".join(parts), "gen.yaml")


@COMMON
@given(text=st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    attempt(text, "gen.yaml")
