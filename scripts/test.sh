#!/usr/bin/env bash
# Installs guestmeta with its development tools and runs every check: lint, format,
# types, then the whole test suite (which starts its own PostgreSQL).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GUESTMETA_LOCK=requirements-dev.lock source "$root/scripts/install.sh"
cd "$root"
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy src
.venv/bin/pytest -q "$@"
