#!/usr/bin/env bash
# Installs guestmeta and shows the whole system on the embedded defaults: applies
# examples/ to the default store, lists the servers, then `guestmeta demo web` boots web
# as a small Debian guest under QEMU with the agent, the metadata service and the exporter,
# and prints what an operator looks at. A private libvirtd is started when none answers.
# Ctrl-C stops everything it started; nothing it started outlives it.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GUESTMETA_LOCK=requirements.lock source "$root/scripts/install.sh"
source "$root/scripts/libvirtd.sh"
cd "$root"
gm=.venv/bin/guestmeta
$gm apply examples/*.yaml
$gm list servers

work=$(mktemp -d)
started=
cleanup() {
    trap - EXIT INT TERM
    [ -n "$started" ] && stop_private_libvirtd "$work"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if ! libvirt_answers; then
    echo "starting a private libvirtd (stopped again at the end)"
    start_private_libvirtd "$work"
    started=1
fi
# The demo handles Ctrl-C itself (it removes its guest and stops its processes first).
status=0
$gm demo web "$@" || status=$?
exit "$status"
