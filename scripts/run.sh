#!/usr/bin/env bash
# Installs guestmeta and runs it on the embedded defaults: applies examples/ to the
# default store, lists the servers it now knows, prints what the first one's guest would
# read (its network_data.json and its nova:instance domain metadata), writes and inspects
# its config drive, and asks the metadata service for its meta_data.json over HTTP.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GUESTMETA_LOCK=requirements.lock source "$root/scripts/install.sh"
cd "$root"
gm=.venv/bin/guestmeta
$gm apply examples/*.yaml
$gm list servers
$gm render network-data web
$gm render domain-metadata web

work=$(mktemp -d)
serve_pid=
cleanup() {
    [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

$gm configdrive web --output "$work/web.iso"
$gm configdrive inspect "$work/web.iso"

# The metadata service, with web's own channel: whoever reaches this port is web.
port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'access_log = false\n[[listen]]\naddress = "127.0.0.1:%s"\nserver = "web"\n' "$port" >"$work/serve.toml"
$gm serve --config "$work/serve.toml" &
serve_pid=$!
.venv/bin/python - "$port" <<'PY'
import sys, time, urllib.request

url = f"http://127.0.0.1:{sys.argv[1]}/openstack/latest/meta_data.json"
for _ in range(200):
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            print(f"GET {url} -> {answer.status}")
            print(answer.read().decode()[:400], "...")
            break
    except OSError:
        time.sleep(0.05)
else:
    sys.exit("the metadata service did not answer")
PY
