"""``guestmeta demo`` (the README's run command ends in it): a real guest, what an operator
looks at, and Ctrl-C leaving nothing behind.

The demo runs as the operator runs it, a ``guestmeta demo web`` process on a store with
``examples/`` applied, against the tests' libvirtd. The expected values are the example's
own (web: 192.168.50.10, floating 203.0.113.10, role frontend), written out by hand.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import libvirt

from guestmeta.demo.system import guestmeta_command
from tests.libvirtd import URI, LibvirtDaemon

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
READY = "Ctrl-C stops them all"


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_the_demo_shows_a_configured_guest_and_ctrl_c_leaves_nothing(
    libvirtd: LibvirtDaemon, tmp_path: Path
) -> None:
    env = dict(
        os.environ, GUESTMETA_DB=f"sqlite:///{tmp_path / 'store.db'}", LIBVIRT_DEFAULT_URI=URI
    )
    gm = guestmeta_command()
    subprocess.run(
        [gm, "apply", *map(str, sorted(EXAMPLES.glob("*.yaml")))],
        env=env,
        check=True,
        capture_output=True,
    )
    web = json.loads(
        subprocess.run(
            [gm, "show", "web", "--format", "json"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    mac = web["ports"][0]["mac_address"]
    demo = subprocess.Popen(
        [gm, "demo", "web", "--hold"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 600
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line.rstrip("\n"))
            if READY in line or time.monotonic() > deadline:
                break
        out = "\n".join(lines)
        assert READY in out, out
        children = _children(demo.pid)
        assert len(children) == 3, out  # agent, serve, exporter
        conn = libvirt.open(URI)
        try:
            dom = conn.lookupByName("web")
            assert dom.isActive()
            xml = dom.XMLDesc(0)
        finally:
            conn.close()
        assert "<nova:instance" in xml and "ua-guestmeta-drive" in xml
        demo.send_signal(signal.SIGINT)
        rest = demo.communicate(timeout=120)[0]
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    out = "\n".join(lines)
    # What an operator looks at, each checked against the example by hand:
    assert re.search(r"│ web\s+│.*│ 192\.168\.50\.10\s+│ fixed", out)  # guestmeta ips
    assert re.search(r"│ web\s+│.*│ 203\.0\.113\.10\s+│ floating", out)
    assert re.search(rf"^{mac}\s+192\.168\.50\.10/24", out, re.M)  # the guest's own view
    assert re.search(r"^default via 192\.168\.50\.1 dev eth0", out, re.M)  # ... its routes
    assert '"meta": {"role": "frontend"}' in out and '"name": "web"' in out  # metadata
    assert re.search(
        r'guestmeta_domain_ip_info\{domain="web".*ip="203\.0\.113\.10".*type="floating"', out
    )
    assert f'"ethernet_mac_address": "{mac}"' in out  # the guest asked the service itself
    # Ctrl-C: exit 130, the processes, the domain and the working directory are gone.
    assert demo.returncode == 130, rest
    assert "stopped" in rest
    assert not [pid for pid in children if _alive(pid)]
    conn = libvirt.open(URI)
    try:
        assert "web" not in [d.name() for d in conn.listAllDomains()]
    finally:
        conn.close()
    workdir = re.search(r"logs of agent, serve and exporter: (\S+)/\*\.log", out)
    assert workdir is not None and not Path(workdir.group(1)).exists()
