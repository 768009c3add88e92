#!/usr/bin/env bash
# Installs everything guestmeta needs on a Debian 12 machine, idempotently:
# system packages through apt-get, then a virtual environment in .venv made by uv
# from the hash-pinned lock. Sourced by scripts/run.sh and scripts/test.sh.
#   GUESTMETA_LOCK=requirements.lock | requirements-dev.lock (default: requirements.lock)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lock=${GUESTMETA_LOCK:-requirements.lock}

# System packages: PostgreSQL is the shared store (the tests start their own cluster);
# libvirt and QEMU run the guests (libvirt-dev and pkg-config build libvirt-python);
# cloud-init is the real consumer the tests check our documents with; iptables sets up the
# metadata service's DNAT recipe inside a test's network namespace; systemd-analyze checks
# the systemd units (nothing starts systemd); mtools writes vfat
# config drives, and genisoimage, xorriso and dosfstools read drives back in the tests;
# cloud-image-utils is cloud-localds, whose seeds `configdrive inspect` must read;
# wrk and nginx are the load generator and the static-file baseline of bench/serve.py;
# mmdebstrap, qemu-utils (qemu-img) and kmod (depmod) build the demo guest image
# (guestmeta.demo.image) and its per-guest disks.
apt_packages=(postgresql libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libvirt-dev
    pkg-config qemu-system-x86 cloud-init iproute2 iptables systemd
    genisoimage xorriso mtools dosfstools cloud-image-utils wrk nginx-light
    mmdebstrap qemu-utils kmod)
missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    # No daemon is started by its install (nginx would take port 80, PostgreSQL 5432):
    # guestmeta's commands, tests and benches start what they need and stop it after.
    policy=/usr/sbin/policy-rc.d
    made_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        made_policy=1
    fi
    apt-get update -qq
    status=0
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
    if [ -n "$made_policy" ]; then
        rm -f "$policy"
    fi
    if [ "$status" -ne 0 ]; then
        exit "$status"
    fi
fi

# uv, from the Python package index by name.
if ! command -v uv >/dev/null 2>&1; then
    if ! python3 -m pip --version >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null
    fi
    python3 -m pip install --quiet uv 2>/dev/null \
        || python3 -m pip install --quiet --break-system-packages uv
    hash -r
fi
command -v uv >/dev/null 2>&1 || export PATH="$HOME/.local/bin:$PATH"

# The project's environment: never let uv fetch an interpreter, use the machine's python3.
export UV_PYTHON_DOWNLOADS=never
cd "$root"
[ -x .venv/bin/python ] || uv venv --quiet --python python3 .venv
# Compiled once here: these machines may run Python with PYTHONDONTWRITEBYTECODE, and
# without bytecode every command would compile its imports again (seconds, not tenths).
uv pip sync --quiet --compile-bytecode --python .venv/bin/python "$lock"
uv pip install --quiet --python .venv/bin/python --no-deps -e .
.venv/bin/python -m compileall -q src/guestmeta >/dev/null
