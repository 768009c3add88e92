#!/usr/bin/env bash
# Sourced by scripts/run.sh and scripts/test.sh after install.sh: makes this machine able to
# run QEMU guests under a libvirtd that guestmeta starts itself (nothing here starts one).
# libvirtd refuses to start without its QEMU user; QEMU runs as root for these guests, as
# on a machine set up only to run guestmeta's demo and tests.
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
getent passwd libvirt-qemu >/dev/null || useradd -r -g libvirt-qemu libvirt-qemu
if ! grep -qs '^user = "root"' /etc/libvirt/qemu.conf; then
    mkdir -p /etc/libvirt
    printf 'user = "root"\ngroup = "root"\n' >> /etc/libvirt/qemu.conf
fi
mkdir -p /var/log/libvirt/qemu

# libvirt_answers: true when a libvirtd answers on qemu:///system.
libvirt_answers() {
    virsh -c qemu:///system uri >/dev/null 2>&1
}

# start_private_libvirtd DIR: start virtlogd (unless one runs) and libvirtd with their PID
# files in DIR, and wait until libvirtd answers; stop_private_libvirtd DIR stops them by PID.
start_private_libvirtd() {
    local dir=$1
    if ! pgrep -x virtlogd >/dev/null; then
        virtlogd -d -p "$dir/virtlogd.pid"
    fi
    libvirtd -d -p "$dir/libvirtd.pid"
    for _ in $(seq 600); do
        libvirt_answers && return 0
        sleep 0.1
    done
    echo "libvirtd did not answer within 60 s" >&2
    return 1
}

stop_private_libvirtd() {
    local dir=$1 pidfile pid
    for pidfile in "$dir/libvirtd.pid" "$dir/virtlogd.pid"; do
        [ -s "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        kill "$pid" 2>/dev/null || continue
        for _ in $(seq 300); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    done
}
