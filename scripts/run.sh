#!/usr/bin/env bash
# Installs guestmeta and runs it on the embedded defaults: applies examples/ to the
# default store and lists the servers it now knows.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GUESTMETA_LOCK=requirements.lock source "$root/scripts/install.sh"
cd "$root"
.venv/bin/guestmeta apply examples/*.yaml
.venv/bin/guestmeta list servers
