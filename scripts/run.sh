#!/usr/bin/env bash
# Installs guestmeta and runs it on the embedded defaults: applies examples/ to the
# default store, lists the servers it now knows, and prints what the first one's guest
# would read: its network_data.json and its nova:instance domain metadata.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GUESTMETA_LOCK=requirements.lock source "$root/scripts/install.sh"
cd "$root"
.venv/bin/guestmeta apply examples/*.yaml
.venv/bin/guestmeta list servers
.venv/bin/guestmeta render network-data web
.venv/bin/guestmeta render domain-metadata web
