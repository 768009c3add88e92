#!/usr/bin/env bash
# Installs guestmeta with its development tools and runs every check: lint, format,
# types, then the whole test suite (which starts its own PostgreSQL and libvirtd).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GUESTMETA_LOCK=requirements-dev.lock source "$root/scripts/install.sh"
cd "$root"

# The tests start their own libvirtd; this lets it run QEMU guests.
source "$root/scripts/libvirtd.sh"

# Real consumers and Nova, as oracles for the tests, in a virtual environment of their own.
bash "$root/scripts/consumers.sh"

.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy src
.venv/bin/pytest -q "$@"
