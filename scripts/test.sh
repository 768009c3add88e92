#!/usr/bin/env bash
# Installs guestmeta with its development tools and runs every check: lint, format,
# types, then the whole test suite (which starts its own PostgreSQL and libvirtd).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GUESTMETA_LOCK=requirements-dev.lock source "$root/scripts/install.sh"
cd "$root"

# The tests start their own libvirtd, which refuses to start without its QEMU user. QEMU
# runs as root for the test guests, as on a machine set up only to run these tests.
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
getent passwd libvirt-qemu >/dev/null || useradd -r -g libvirt-qemu libvirt-qemu
if ! grep -qs '^user = "root"' /etc/libvirt/qemu.conf; then
    mkdir -p /etc/libvirt
    printf 'user = "root"\ngroup = "root"\n' >> /etc/libvirt/qemu.conf
fi
mkdir -p /var/log/libvirt/qemu

# Real consumers and Nova, as oracles for the tests, in a virtual environment of their own.
bash "$root/scripts/consumers.sh"

.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy src
.venv/bin/pytest -q "$@"
