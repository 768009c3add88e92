"""Running one script under the consumers' environment and reading its JSON answer."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).resolve().parent / "scripts"
# The consumers' own interpreter; GUESTMETA_CONSUMERS_PYTHON points elsewhere if needed.
CONSUMERS_PYTHON = Path(
    os.environ.get("GUESTMETA_CONSUMERS_PYTHON", ROOT / ".venv-consumers" / "bin" / "python")
)


class ConsumerError(RuntimeError):
    """A consumer failed: the message carries its exit status and its stderr."""

    def __init__(self, script: str, returncode: int, stderr: str) -> None:
        self.script = script
        self.returncode = returncode
        self.stderr = stderr
        super().__init__(f"{script} exited with status {returncode}:\n{stderr.strip()}")


def consumers_available() -> bool:
    return CONSUMERS_PYTHON.exists()


def run_script(script: str, payload: Any = None, *args: str, timeout: float = 300) -> Any:
    """Run ``scripts/<script>`` with ``payload`` as JSON on stdin; return its JSON stdout."""
    if not consumers_available():
        raise ConsumerError(script, -1, f"{CONSUMERS_PYTHON} is missing: run scripts/consumers.sh")
    env = dict(os.environ)
    # Nova and oslo print deprecation warnings on import; they would only bury real errors.
    env["PYTHONWARNINGS"] = "ignore"
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [str(CONSUMERS_PYTHON), str(SCRIPTS / script), *args],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise ConsumerError(script, proc.returncode, proc.stderr)
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise ConsumerError(
            script, proc.returncode, f"stdout is not JSON ({exc}):\n{proc.stdout}\n{proc.stderr}"
        ) from exc
