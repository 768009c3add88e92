#!/usr/bin/env bash
# Installs the real OpenStack consumers that the tests check guestmeta's output with
# (Nova, glean, cloudbase-init) into their own environment, .venv-consumers, from the
# hash-pinned lock tests/consumers/requirements.lock. They are test oracles, never
# dependencies of the project, so they stay out of .venv. Idempotent: a second run only
# checks that the environment matches the lock.
# The lock is made with:
#   uv pip compile tests/consumers/requirements.in --generate-hashes --python-version 3.11 \
#       -o tests/consumers/requirements.lock
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
command -v uv >/dev/null 2>&1 || export PATH="$HOME/.local/bin:$PATH"

# Never let uv fetch an interpreter: use the machine's python3, as the project's .venv does.
export UV_PYTHON_DOWNLOADS=never
[ -x .venv-consumers/bin/python ] || uv venv --quiet --python python3 .venv-consumers
uv pip sync --quiet --python .venv-consumers/bin/python tests/consumers/requirements.lock
