"""Reading and parsing apply files as if they were hostile: bounded, strict, one line per refusal.

An apply file may be written by anyone the operator takes files from. Each way a file could
crash, hang or fool ``guestmeta apply`` is refused here, before any item is looked at:

- size: a file or stdin over ``MAX_INPUT`` bytes; FIFOs, devices and sockets (a FIFO would
  block the open, ``/dev/zero`` never ends); more than ``MAX_ITEMS`` values, counted before
  parsing (every value but the first follows a comma or a line break, or opens a
  collection), since a few bytes per value (``[{},{},...]``) would make gigabytes of objects;
- nesting: libyaml's composer recurses in C and crashes the process on some 40,000 nested
  collections, and ``json`` raises ``RecursionError``; YAML deeper than a cheap bound is first
  measured on libyaml's event stream, which does not recurse;
- aliases: a YAML alias is the node it names, so a kilobyte of nested aliases is a tree of
  billions of nodes once anything walks or stringifies it; the tree is walked once with a
  budget (nodes and characters, counted per visit) proportional to the text;
- duplicate keys: YAML and JSON keep the last of two equal keys, so ``networks:`` written
  twice would silently drop the first list (and ``--prune`` would delete it from the store);
- keys that are not strings (YAML ``1:``, ``null:``, dates), NUL characters (PostgreSQL
  cannot store them) and lone surrogates (no encoding can) anywhere in the tree.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, ScalarNode

from guestmeta.apply.fields import json_type
from guestmeta.model.errors import file_kind, plain, shown

try:  # libyaml is many times faster on large dumps; fall back to the pure loader.
    from yaml import CSafeLoader as _Base
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Base  # type: ignore[assignment]

MAX_INPUT = 64 << 20  # bytes: a dump of many thousand servers is a few MiB
MAX_ITEMS = 4_000_000  # a 10,000-server dump has some 500,000; this many objects take ~300 MB
MAX_DEPTH = 64  # the deepest real body (server, flavor, extra_specs) is under ten
# A text expands to at most this many nodes-plus-characters per byte (and a constant) when
# nothing is aliased; anything beyond it is aliases repeating what they name.
EXPANSION_FACTOR = 4
EXPANSION_CONSTANT = 1 << 16
_MERGE_TAG = "tag:yaml.org,2002:merge"
_BLOCK_INDENT = re.compile(r"(?m)^[ \t?:-]*")


class SourceError(ValueError):
    """A file that cannot be read as a mapping of collections; one line, naming the file."""


def display_name(path: str) -> str:
    return "<stdin>" if path == "-" else path


# -- reading ----------------------------------------------------------------------------


def read_text(path: str) -> str:
    """The text of a file or stdin: bounded, regular files only, UTF-8."""
    name = display_name(path)
    data = _read_stdin() if path == "-" else _read_file(path)
    if len(data) > MAX_INPUT:
        raise SourceError(f"{name}: larger than {MAX_INPUT >> 20} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _read_stdin() -> bytes:
    stream = sys.stdin
    if stream is None or stream.closed:
        raise SourceError("<stdin>: standard input is closed")
    try:
        return stream.buffer.read(MAX_INPUT + 1)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise SourceError(f"<stdin>: cannot read ({reason})") from None


def _read_file(path: str) -> bytes:
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise SourceError(f"{path}: is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise SourceError(f"{path}: not a regular file ({file_kind(info.st_mode)})")
        if info.st_size > MAX_INPUT:
            raise SourceError(f"{path}: larger than {MAX_INPUT >> 20} MiB")
        chunks, left = [], MAX_INPUT + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror})") from None
    finally:
        os.close(fd)


# -- parsing ----------------------------------------------------------------------------


class _Duplicate(ValueError):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping = dict(pairs)
    if len(mapping) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Duplicate(key)
            seen.add(key)
    return mapping


class _Loader(_Base):
    """The safe loader, refusing a key written twice in one mapping (merge keys aside)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, MappingNode):
            seen: set[tuple[str, str]] = set()
            for key_node, _ in node.value:
                if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
                    continue
                key = (key_node.tag, key_node.value)
                if key in seen:
                    raise ConstructorError(
                        None,
                        None,
                        f"duplicate key {shown(key_node.value)}",
                        key_node.start_mark,
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_text(path: str, text: str) -> Any:
    """The data of a file's text, JSON or YAML, checked by ``check_tree``."""
    name = display_name(path)
    opens = text.count("[") + text.count("{")
    if opens + text.count(",") + text.count("\n") > MAX_ITEMS:
        raise SourceError(f"{name}: more than {MAX_ITEMS} values")
    if name.endswith(".json") or text.lstrip().startswith(("{", "[")):
        data = _parse_json(name, text)
        check_tree(name, data, None)
        return data
    _check_yaml_depth(name, text, opens)
    try:
        data = yaml.load(text, Loader=_Loader)  # a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SourceError(f"{name}: not valid YAML: {problem}{where}") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of 5,000 digits
        raise SourceError(f"{name}: not valid YAML: {_first_line(exc)}") from None
    check_tree(name, data, EXPANSION_FACTOR * len(text) + EXPANSION_CONSTANT)
    return data


def _parse_json(name: str, text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_unique_pairs)
    except json.JSONDecodeError as exc:
        raise SourceError(
            f"{name}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except _Duplicate as exc:
        raise SourceError(f"{name}: not valid JSON: duplicate key {shown(exc.args[0])}") from None
    except RecursionError:
        raise SourceError(f"{name}: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # e.g. an integer of 5,000 digits
        raise SourceError(f"{name}: not valid JSON: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def _check_yaml_depth(name: str, text: str, opens: int) -> None:
    """Refuse YAML nested deeper than MAX_DEPTH before libyaml's composer recurses into it.

    Each level of block nesting takes at least one character of a line's leading
    indentation, dashes, ``?`` or ``:``; each level of flow nesting an opening bracket, and
    at most one of them on any path is an empty ``[]`` or ``{}``. So the longest leading run,
    plus the opening brackets that do not close at once, plus two bound the depth (closing
    brackets are not subtracted: a quoted ``]`` would let real nesting hide). Only above
    the limit, as in files written in flow style throughout, are libyaml's events counted.
    """
    opens -= text.count("[]") + text.count("{}")
    block = max(map(len, _BLOCK_INDENT.findall(text)), default=0)
    if opens + block + 2 <= MAX_DEPTH:
        return
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_Base):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    line = event.start_mark.line + 1 if event.start_mark else 0
                    raise SourceError(
                        f"{name}: nested deeper than {MAX_DEPTH} levels at line {line}"
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return  # the loader reports it with its position


def check_tree(name: str, data: Any, budget: int | None) -> None:
    """Walk the parsed tree once: depth, key types, NUL and surrogates, alias expansion.

    ``budget`` counts each node and each string's characters every time the walk reaches
    them, so an alias costs what it expands to; None for JSON, which has no aliases.
    """
    left = budget if budget is not None else -1
    # (value, depth, path): path is a (parent path, key) chain, spelled out only on error.
    stack: list[tuple[Any, int, Any]] = [(data, 0, None)]
    while stack:
        value, depth, path = stack.pop()
        if budget is not None:
            left -= 1 + (len(value) if isinstance(value, str) else 0)
            if left < 0:
                raise SourceError(
                    f"{name}: expands to more than {budget} nodes and characters "
                    "(YAML aliases repeat what they name)"
                )
        if isinstance(value, str):
            _check_string(name, value, path)
        elif isinstance(value, dict):
            if depth >= MAX_DEPTH:
                raise SourceError(f"{name}: {_spell(path)}: nested deeper than {MAX_DEPTH} levels")
            for key, item in value.items():
                if not isinstance(key, str):
                    raise SourceError(
                        f"{name}: {_spell(path)}: key {shown(key)} must be a string, "
                        f"not {json_type(key)} (quote it)"
                    )
                _check_string(name, key, path)
                stack.append((item, depth + 1, (path, key)))
        elif isinstance(value, list):
            if depth >= MAX_DEPTH:
                raise SourceError(f"{name}: {_spell(path)}: nested deeper than {MAX_DEPTH} levels")
            stack.extend((item, depth + 1, (path, i)) for i, item in enumerate(value))


def _check_string(name: str, value: str, path: Any) -> None:
    if value.isascii():
        if "\x00" in value:
            raise SourceError(f"{name}: {_spell(path)}: {shown(value)} contains a NUL character")
        return
    if "\x00" in value:
        raise SourceError(f"{name}: {_spell(path)}: {shown(value)} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise SourceError(
            f"{name}: {_spell(path)}: {shown(value)} contains a lone surrogate"
        ) from None


def _spell(path: Any) -> str:
    """``servers[0].metadata.key`` from a path chain; ``top level`` for the root."""
    parts: list[str] = []
    while path is not None:
        path, key = path
        parts.append(f"[{key}]" if isinstance(key, int) else f".{_key(key)}")
    text = "".join(reversed(parts)).lstrip(".")
    return text or "top level"


def _key(key: str) -> str:
    return shown(key) if "." in key else plain(key)
