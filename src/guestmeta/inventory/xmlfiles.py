"""Reading guests' IPs straight from the XML files libvirtd keeps, with no daemon call.

``/etc/libvirt/qemu/NAME.xml`` holds a persistent definition; ``/run/libvirt/qemu/NAME.xml``
holds the live state of a running domain inside a ``<domstatus>`` wrapper. A live file
is mostly QEMU capabilities (about 11 KB) and parsing whole files costs several hundred
microseconds each, too slow for a thousand domains in 100 ms. So the fast path parses
only the start of the ``<domain>`` element, up to the end of ``<metadata>`` (libvirt
writes ``name``, ``uuid`` and ``metadata`` first), as a small document of its own.

The fast path is taken only when the cut is sure to be the same as the file's: only a
prolog before the root, the ``<domain>`` a direct child of ``<domstatus>`` (the last one),
``name`` and ``uuid`` inside the cut, and the file ending with its root's end tag (a
truncated file does not). Anything else, and any cut that does not parse, goes through a
full parse of the file, which is also what reports a malformed file. The fast path does
not check what follows ``</metadata>``; ``verify=True`` (``guestmeta ips --strict``)
parses every file whole.

Domain XML may come from anyone who could write a file or call ``virsh define``, so
nothing is parsed that libvirtd would not write, anywhere in the file: a DOCTYPE (whose
entities and ATTLIST defaults fill attribute values even with entity expansion off), or
any other ``<!`` declaration but comments and CDATA, refuses the file. The parser reads
every file as UTF-8 whatever it declares (so no other encoding can spell a DOCTYPE that
the search misses), fetches nothing and builds no huge trees. In a directory, only
regular files named after the domain they hold are read; FIFOs, devices and symlinks
leading out of the directory are reported, never opened. Bad addresses and domains
sharing a uuid or a name are reported too (``inventory.checks``).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path

from lxml import etree

from guestmeta.domainxml import PARSER, MetadataError, domain_parts, read_brief
from guestmeta.domainxml.brief import Parts
from guestmeta.inventory.checks import checked_addresses, duplicates
from guestmeta.inventory.rows import Domain, Failure, Scan
from guestmeta.model.errors import file_kind, plain, shown

# Comments, CDATA, DOCTYPE and processing instructions: one search, not a find of each.
_MARKUP = re.compile(rb"<[!?]")
_STATE = re.compile(rb"""\sstate\s*=\s*['"]([a-z]+)['"]""")
_ROOTS = {b"domain": b"</domain>", b"domstatus": b"</domstatus>"}
_METADATA_END = b"</metadata>"
# Markup libvirtd never writes: declarations other than comments and CDATA (which it
# keeps in the metadata applications give it), i.e. DOCTYPE and what only a DTD holds.
_FOREIGN = re.compile(rb"<!(?!--|\[CDATA\[)")
_UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
_NAME_BAD = re.compile(r"[\x00-\x1f\x7f/]")
_UUID_END = b"</uuid>"
# The reader of both scans, files and connection: our element in either namespace.
# A domain's XML is kilobytes; a file far larger is not one, and is not read into memory.
MAX_FILE = 64 << 20


class FileError(ValueError):
    """The file is not a domain definition or live state we can read."""


def _tail_ok(data: bytes, end_tag: bytes) -> bool:
    return data[-len(end_tag) - 64 :].rstrip().endswith(end_tag)


def _prolog_only(data: bytes, end: int) -> bool:
    """``data[:end]`` is an XML declaration, whitespace and whole comments, nothing more."""
    pos = 0
    if data.startswith(b"<?xml"):
        pos = data.find(b"?>", 0, end)
        if pos < 0:
            return False
        pos += 2
    while True:
        while pos < end and data[pos] in b" \t\r\n":
            pos += 1
        if pos >= end:
            return True
        if not data.startswith(b"<!--", pos):
            return False
        close = data.find(b"-->", pos + 4, end)
        if close < 0:
            return False
        pos = close + 3


def _one_element(data: bytes, start: int, end: int) -> bool:
    """``data[start:end]`` is balanced: the element at ``start`` is as deep as ``end``.

    libvirtd writes no comments, CDATA or processing instructions inside ``<domstatus>``
    and escapes every ``<`` and ``>`` in its values, so counting tags is then exact.
    Anything else goes to the full parse.
    """
    if _MARKUP.search(data, start, end) is not None:
        return False
    opened = data.count(b"<", start, end) - 2 * data.count(b"</", start, end)
    return opened == data.count(b"/>", start, end)


def _last_domain(data: bytes, start: int, end: int) -> int:
    """Where the last ``<domain `` or ``<domain>`` in ``data[start:end]`` begins, or -1.

    One backward search that stops at the first hit, where searching for each form
    would scan the whole file for the one that is not there.
    """
    pos = data.rfind(b"<domain", start, end)
    while pos >= 0 and (pos + 7 >= end or data[pos + 7] not in b" >"):
        pos = data.rfind(b"<domain", start, pos)
    return pos


def _fast(data: bytes) -> tuple[Parts, str | None] | None:
    """(domain's parts, domstatus state) from a cut of the file, or None to parse it all."""
    status = data.find(b"<domstatus")
    if status >= 0:
        # libvirtd writes the domain last in <domstatus>, after some 10 KB of QEMU
        # capabilities: take the last <domain and check that it is a direct child by
        # counting tags from it to </domstatus>, which is far less to count.
        end_tag, tag_end = _ROOTS[b"domstatus"], data.find(b">", status)
        end = data.rfind(end_tag)
        start = _last_domain(data, tag_end, end)
        if tag_end < 0 or start < 0 or not _prolog_only(data, status):
            return None
        if not _one_element(data, start, end):
            return None
        match = _STATE.search(data, status, tag_end)
        state = match.group(1).decode() if match else None
    else:
        end_tag, state = _ROOTS[b"domain"], None
        start = data.find(b"<domain")
        if start < 0 or not _prolog_only(data, start):
            return None
    if not _tail_ok(data, end_tag):
        return None
    stop = data.find(_METADATA_END, start)
    stop = stop + len(_METADATA_END) if stop >= 0 else data.find(_UUID_END, start)
    if stop < 0:
        return None
    if stop == data.find(_UUID_END, start):
        stop += len(_UUID_END)
    try:
        root = etree.fromstring(data[start:stop] + b"</domain>", PARSER)
    except etree.XMLSyntaxError:
        return None
    parts = domain_parts(root)
    if parts[0] is None or parts[1] is None:
        return None  # not libvirt's order (name and uuid first): read the whole file
    return parts, state


def _full(data: bytes) -> tuple[Parts, str | None]:
    try:
        root = etree.fromstring(data, PARSER)
    except etree.XMLSyntaxError as exc:
        raise FileError(f"malformed XML: {exc}") from None
    if root.tag == "domstatus":
        domain = root.find("domain")
        if domain is None:
            raise FileError("<domstatus> without a <domain>")
        return domain_parts(domain), root.get("state")
    if root.tag != "domain":
        raise FileError(f"not a libvirt domain: root element is <{root.tag}>")
    return domain_parts(root), None


def read_domain(data: bytes, verify: bool = False) -> Domain:
    """One domain from the bytes of a definition or live-state file.

    ``verify`` parses the whole file even when the cut would do, so that a file that is
    malformed after its metadata (never written by libvirtd, but possible by hand) is
    reported rather than read.
    """
    foreign = _FOREIGN.search(data)
    if foreign is not None:
        word = re.match(rb"<![A-Z]*", data[foreign.start() : foreign.start() + 16])
        what = word.group().decode() if word else "<!"
        raise FileError(f"{what} declarations are not accepted in domain XML")
    parsed = None if verify else _fast(data)
    (name_el, uuid_el, element), state = parsed or _full(data)
    name = name_el.text if name_el is not None else None
    uuid = uuid_el.text if uuid_el is not None else None
    if not name or not uuid:
        raise FileError("domain without <name> or <uuid>")
    name, uuid = name.strip(), uuid.strip().lower()
    if _NAME_BAD.search(name) or len(name) > 255:
        raise FileError(f"domain name {shown(name)} is not one libvirt would write")
    if not _UUID.match(uuid):
        raise FileError(f"uuid {shown(uuid)} is not a UUID")
    meta = None
    if element is not None:
        try:
            meta = read_brief(element)
        except MetadataError as exc:
            raise FileError(str(exc)) from None
    return Domain(name, uuid, state, meta)


def _files(
    paths: Iterable[Path], failures: list[Failure]
) -> Iterable[tuple[Path, str | None, bool]]:
    """(directory, file name, is a symlink) for each ``*.xml`` file in a directory, (file,
    None, True) for a file named on its own; what is not read is added to ``failures``."""
    for path in paths:
        if path.is_dir():
            # scandir and string sorting: Path.glob and Path ordering cost more than
            # reading the files.
            with os.scandir(path) as entries:
                found = sorted((e.name, e) for e in entries if e.name.endswith(".xml"))
            for name, entry in found:
                link = entry.is_symlink()
                problem = _entry_problem(path, entry, link)
                if problem is None:
                    yield path, name, link
                elif problem:
                    failures.append(Failure(_shown(path, name), problem))
        else:
            yield path, None, True


def _entry_problem(directory: Path, entry: os.DirEntry[str], link: bool) -> str | None:
    """Why a directory entry is not read ("" to pass over it quietly), or None."""
    try:
        if link:
            target = os.path.realpath(entry.path)
            inside = os.path.dirname(target) == os.path.realpath(directory)
            if not inside:
                return f"symlink to {plain(target, 200)}, outside the directory"
        if entry.is_dir():
            return ""  # libvirtd keeps directories there (autostart, ...)
        if not entry.is_file():
            return _kind(entry.stat().st_mode)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _kind(mode: int) -> str:
    return f"{file_kind(mode)}, not a file"


class _NotRead(Exception):
    pass


def _read(path: str, follow: bool) -> bytes:
    """The whole of a regular file; _NotRead with the reason, OSError as it comes.

    One read of the size the file has, rather than a buffered file object: a scan opens
    a thousand files, and the object costs more than the read. Opened without blocking
    (a FIFO put there after the listing would wait for a writer) and, for what was not a
    symlink when listed, without following one.
    """
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _NotRead(_kind(info.st_mode))
        if info.st_size > MAX_FILE:
            raise _NotRead(f"larger than {MAX_FILE >> 20} MiB")
        data = os.read(fd, info.st_size + 1)
        if len(data) <= info.st_size:
            return data  # a short read of a regular file is its end
        chunks = [data]  # grown since fstat: read on, up to the limit
        while len(data) <= MAX_FILE and (chunk := os.read(fd, 1 << 16)):
            chunks.append(chunk)
            data = b"".join(chunks)
        if len(data) > MAX_FILE:
            raise _NotRead(f"larger than {MAX_FILE >> 20} MiB")
        return data
    finally:
        os.close(fd)


def scan_files(paths: Iterable[str | Path], verify: bool = False) -> Scan:
    """Every domain in these files and directories (``*.xml`` in each directory).

    A domain found both as a definition and as live state is listed once, from its live
    state (the running truth); libvirtd names both files after the domain, so a
    definition whose file name matches a live file that was read is not parsed at all.
    When live state files were read, a domain found only as a definition is ``shutoff``.
    ``verify`` parses every file whole (see ``read_domain``). A file in a directory that
    holds another domain than its name says is not listed; domains sharing a uuid or a
    name are all listed; both are reported, as is every address left out.
    """
    # (is live state, file name, directory or file, bytes); paths as text only for reports.
    contents: list[tuple[bool, str, Path, str | None, bytes]] = []
    failures: list[Failure] = []
    for where, name, follow in _files((Path(p) for p in paths), failures):
        try:
            path = os.path.join(where, name) if name is not None else str(where)
            data = _read(path, follow)
        except _NotRead as exc:
            failures.append(Failure(_shown(where, name), str(exc)))
            continue
        except OSError as exc:
            failures.append(Failure(_shown(where, name), exc.strerror or str(exc)))
            continue
        live = data.find(b"<domstatus", 0, 1024) >= 0
        contents.append((live, name if name is not None else where.name, where, name, data))
    # Live files first: they decide which definitions need no parsing.
    contents.sort(key=lambda item: not item[0])
    found: list[tuple[str, Domain]] = []
    live_names: set[str] = set()
    for live, filename, where, name, data in contents:
        if not live and filename in live_names:
            continue
        source = _shown(where, name)
        try:
            dom = read_domain(data, verify)
        except FileError as exc:
            failures.append(Failure(source, str(exc)))
            continue
        if name is not None and filename != f"{dom.name}.xml":
            failures.append(Failure(source, f"holds domain {shown(dom.name)}, not its file name"))
            continue
        dom, bad = checked_addresses(dom, source)
        failures.extend(bad)
        if dom.state is not None:
            live_names.add(filename)
        found.append((source, dom))
    failures.extend(duplicates(found))
    domains = sorted((dom for _, dom in found), key=lambda d: (d.name, d.uuid))
    if live_names:
        domains = [
            d if d.state is not None else Domain(d.name, d.uuid, "shutoff", d.metadata)
            for d in domains
        ]
    return Scan(domains, failures)


def _shown(where: Path, name: str | None) -> str:
    return str(where / name if name is not None else where)
