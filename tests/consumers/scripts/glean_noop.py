"""Run glean in --noop mode over a fake root and print the files it would write, as JSON.

Usage: glean_noop.py ROOT DISTRO   (ROOT holds mnt/config/openstack/latest/ and sys/class/net/)

In --noop mode glean prints each file as ``### Write PATH`` followed by the file's content
(``finish_files`` in glean/cmd.py) and writes nothing. Some of its checks ignore --root and
look at the machine it runs on; they are pinned here so the answer depends only on the fake
root, the way it would on a freshly booted guest:
- ``os.system('systemctl is-enabled systemd-resolved')``: answered "not enabled", so the
  name servers go to /etc/resolv.conf (and nothing is printed to our stdout);
- ``os.path.exists`` on /etc/... (an interface "already configured" by an earlier run):
  answered "no";
- ``is_keyfile_format()`` reads this machine's os-release (RHEL 10 uses NetworkManager
  keyfiles): answered "no", so --distro centos means ifcfg files;
- the lock file in /tmp is replaced by a no-op, since every run has its own root.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys

import glean.cmd

_real_exists = os.path.exists


def _exists(path):  # type: ignore[no-untyped-def]
    if isinstance(path, str) and path.startswith("/etc/"):
        return False
    return _real_exists(path)


def parse_noop(output: str) -> dict[str, str]:
    """Split glean's noop output into path -> content."""
    files: dict[str, str] = {}
    parts = re.split(r"^### Write (\S+)\n", output, flags=re.MULTILINE)
    if parts[0].strip():
        raise SystemExit(f"unexpected output before the first file:\n{parts[0]}")
    for path, content in zip(parts[1::2], parts[2::2], strict=True):
        files[path] = content
    return files


def main() -> None:
    root, distro = sys.argv[1], sys.argv[2]
    os.system = lambda command: 1  # systemd-resolved is not enabled
    os.path.exists = _exists
    glean.cmd.is_keyfile_format = lambda: False
    glean.cmd.systemlock.Lock = lambda filename: contextlib.nullcontext()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        glean.cmd.main(["--noop", "--root", root, "--distro", distro])
    json.dump(parse_noop(out.getvalue()), sys.stdout)


if __name__ == "__main__":
    main()
