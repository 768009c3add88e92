"""Debian's cloud-init as a judge: convert network_data.json, read a config drive tree.

cloud-init is not on PyPI; Debian's package imports only under the system interpreter,
so everything here runs it as a subprocess. :func:`net_convert` is exactly the command an
operator would type (``cloud-init devel net-convert``); :func:`net_convert_many` runs the
same code (``cloudinit.cmd.devel.net_convert.handle_args``) for many documents in one
interpreter, because starting cloud-init costs about 0.4 s and the matrix and property
tests convert hundreds of documents.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

CLOUD_INIT = os.environ.get("GUESTMETA_CLOUD_INIT", "/usr/bin/cloud-init")
SYSTEM_PYTHON = os.environ.get("GUESTMETA_CLOUD_INIT_PYTHON", "/usr/bin/python3")
OUTPUTS = ("netplan", "eni", "sysconfig", "networkd")
# The sysconfig renderer needs a Red Hat family distro for its templates; the rest Debian.
DISTRO = {"sysconfig": "centos"}


class CloudInitError(RuntimeError):
    """cloud-init refused a document: the message carries its error output."""


def _args(
    path: str, macs: dict[str, str], output: str, outdir: str, kind: str = "network_data.json"
) -> list[str]:
    args = ["-p", path, "-k", kind, "-d", outdir]
    args += ["-D", DISTRO.get(output, "debian"), "-O", output]
    for name, mac in macs.items():
        args += ["-m", f"{name},{mac}"]
    return args


def _read_tree(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): path.read_text()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def net_convert(network_data: dict[str, Any], macs: dict[str, str], output: str) -> dict[str, str]:
    """``cloud-init devel net-convert`` to ``output``: relative path -> text of each file.

    ``macs`` maps guest NIC names to MACs (every MAC the document uses must be there, or
    cloud-init looks for this machine's NICs and fails).
    """
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "network_data.json"
        source.write_text(json.dumps(network_data))
        outdir = Path(tmp) / "out"
        proc = subprocess.run(
            [CLOUD_INIT, "devel", "net-convert", *_args(str(source), macs, output, str(outdir))],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if proc.returncode != 0:
            raise CloudInitError(f"net-convert -O {output} failed:\n{proc.stderr.strip()}")
        return _read_tree(outdir)


_BATCH = r"""
import copy, io, json, os, sys, tempfile, traceback
from contextlib import redirect_stderr
from cloudinit import distros
from cloudinit.cmd.devel import net_convert

# net-convert edits the distro's class-level renderer settings (it trims netplan's path):
# harmless once per process, so each job starts from a fresh copy.
classes = {name: distros.fetch(name) for name in ("debian", "centos")}
pristine = {name: copy.deepcopy(cls.renderer_configs) for name, cls in classes.items()}

results = []
for job in json.load(sys.stdin):
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "network_data.json")
        with open(source, "w") as f:
            if "text" in job:
                f.write(job["text"])
            else:
                json.dump(job["network_data"], f)
        out = os.path.join(tmp, "out")
        argv = job["args"] + ["-d", out]
        argv[argv.index("@SOURCE@")] = source
        for name, cls in classes.items():
            cls.renderer_configs = copy.deepcopy(pristine[name])
        err = io.StringIO()
        try:
            args = net_convert.get_parser().parse_args(argv)
            with redirect_stderr(err):
                net_convert.handle_args("net-convert", args)
            args.network_data.close()
        except BaseException:
            results.append({"error": traceback.format_exc() + err.getvalue()})
            continue
        files = {}
        for base, _, names in os.walk(out):
            for name in names:
                path = os.path.join(base, name)
                with open(path) as f:
                    files[os.path.relpath(path, out)] = f.read()
        results.append({"files": files})
json.dump(results, sys.stdout)
"""


def net_convert_many(
    jobs: list[tuple[dict[str, Any] | str, dict[str, str], str]],
    kind: str = "network_data.json",
) -> list[dict[str, str] | CloudInitError]:
    """:func:`net_convert` for many (network_data, macs, output) jobs in one interpreter.

    A document given as text is written as it is (``kind="yaml"`` for a NoCloud
    ``network-config``). Each result is the job's files, or the error cloud-init raised
    for that job.
    """
    payload = []
    for network_data, macs, output in jobs:
        args = _args("@SOURCE@", macs, output, "@OUT@", kind)
        i = args.index("-d")
        del args[i : i + 2]
        body = (
            {"text": network_data}
            if isinstance(network_data, str)
            else {"network_data": network_data}
        )
        payload.append({**body, "args": args})
    proc = subprocess.run(
        [SYSTEM_PYTHON, "-c", _BATCH],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise CloudInitError(f"cloud-init batch failed:\n{proc.stderr.strip()}")
    out: list[dict[str, str] | CloudInitError] = []
    for (_, _, output), result in zip(jobs, json.loads(proc.stdout), strict=True):
        if "error" in result:
            out.append(CloudInitError(f"net-convert -O {output} failed:\n{result['error']}"))
        else:
            out.append(dict(sorted(result["files"].items())))
    return out


# Turns what cloud-init returns into JSON, bytes kept as {"__bytes__": base64}.
_PLAIN = r"""
import base64, json, sys

def plain(value):
    if isinstance(value, bytes):
        return {"__bytes__": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
"""

_READ_DRIVE = (
    _PLAIN
    + r"""
from cloudinit.sources.helpers import openstack

print(json.dumps(plain(openstack.ConfigDriveReader(sys.argv[1]).read_v2())))
"""
)


def _unplain(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__bytes__"}:
            return base64.b64decode(value["__bytes__"])
        return {k: _unplain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unplain(v) for v in value]
    return value


def read_drive(path: str | Path) -> dict[str, Any]:
    """``ConfigDriveReader(path).read_v2()``: what cloud-init reads from a drive tree.

    Bytes (user data, vendor data) come back as bytes; cloud-init's errors raise
    :class:`CloudInitError`.
    """
    result: dict[str, Any] = _unplain(_read(_READ_DRIVE, str(path), "ConfigDriveReader"))
    return result


def _read(script: str, argument: str, what: str) -> Any:
    """``script`` run by Debian's python on ``argument``; the JSON it prints."""
    proc = subprocess.run(
        [SYSTEM_PYTHON, "-c", script, argument],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise CloudInitError(f"{what} failed:\n{proc.stderr.strip()}")
    return json.loads(proc.stdout)


_READ_NOCLOUD = r"""
import base64, json, sys
from cloudinit import util

seed = util.pathprefix2dict(
    sys.argv[1], required=["user-data", "meta-data"], optional=["vendor-data", "network-config"]
)
out = {}
for key, value in seed.items():
    raw = value if isinstance(value, bytes) else value.encode()
    out[key] = base64.b64encode(raw).decode()
out["meta-data (parsed)"] = util.load_yaml(seed["meta-data"])
if "network-config" in seed:
    out["network-config (parsed)"] = util.load_yaml(seed["network-config"])
print(json.dumps(out))
"""


def read_nocloud(path: str | Path) -> dict[str, Any]:
    """What cloud-init's NoCloud source reads from a seed directory.

    ``pathprefix2dict`` as the datasource calls it: file name -> bytes; plus
    ``meta-data (parsed)`` and ``network-config (parsed)`` as cloud-init's YAML loader
    reads them.
    """
    raw = _read(_READ_NOCLOUD, str(path), "NoCloud seed read")
    return {k: v if k.endswith("(parsed)") else base64.b64decode(v) for k, v in raw.items()}


_READ_SERVICE = (
    _PLAIN
    + r"""
from cloudinit.sources.helpers import ec2 as ec2_utils
from cloudinit.sources.helpers import openstack

url = sys.argv[1]
openstack_md = openstack.MetadataReader(url, retries=0).read_v2()
ec2 = ec2_utils.get_instance_metadata("2009-04-04", url, retries=0)
user = ec2_utils.get_instance_userdata("2009-04-04", url, retries=0)
print(json.dumps(plain({"openstack": openstack_md, "ec2": ec2, "ec2-user-data": user})))
"""
)


def read_service(url: str) -> dict[str, Any]:
    """What cloud-init's OpenStack datasource (``MetadataReader(url).read_v2()``) and its
    EC2 crawler (``ec2_utils.get_instance_metadata``/``get_instance_userdata``, version
    2009-04-04) read from a metadata service, under Debian's python."""
    result: dict[str, Any] = _unplain(_read(_READ_SERVICE, url, "MetadataReader"))
    return result
