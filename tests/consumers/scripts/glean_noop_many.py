"""glean --noop over many fake roots in one interpreter; print each answer as JSON.

Usage: glean_noop_many.py   (stdin: JSON list of {"root": ROOT, "distro": DISTRO})

The same run as ``glean_noop.py``, with the same pins on the checks that look at the
machine instead of the fake root, once per job: starting glean costs about a second and
the matrix needs dozens of runs. Each result is ``{"files": {path: content}}``, or
``{"error": traceback}`` when glean raised for that job (one failing document does not
cost the others their answer).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import traceback

import glean.cmd
from glean_noop import _exists, parse_noop


def run(root: str, distro: str) -> dict[str, object]:
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            glean.cmd.main(["--noop", "--root", root, "--distro", distro])
    except Exception:  # the job's failure is its answer
        return {"error": traceback.format_exc()}
    return {"files": parse_noop(out.getvalue())}


def main() -> None:
    os.system = lambda command: 1  # systemd-resolved is not enabled
    os.path.exists = _exists
    glean.cmd.is_keyfile_format = lambda: False
    glean.cmd.systemlock.Lock = lambda filename: contextlib.nullcontext()
    jobs = json.load(sys.stdin)
    json.dump([run(job["root"], job["distro"]) for job in jobs], sys.stdout)


if __name__ == "__main__":
    main()
