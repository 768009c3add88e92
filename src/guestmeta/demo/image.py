"""A Debian 12 guest with cloud-init, built from the host's apt sources and cached.

Why each piece:

- ``mmdebstrap --variant=minbase`` makes the root as a plain directory in about a minute,
  and ``mkfs.ext4 -d`` turns that directory into a disk image without a loop mount (these
  machines refuse one). The package sources are the host's own apt source files, passed
  as they are, so no package server is named here.
- Debian 12's cloud-init renders networkd files by default, and its networkd renderer
  drops VLAN and bond links. With ``ifupdown`` installed cloud-init picks its ``eni``
  renderer first, which keeps them (``vlan`` and ``ifenslave`` make ifup understand them);
  ``net-tools`` and ``resolvconf`` are what make ifup apply routes and DNS.
- The kernel is Debian's stock one, booted directly by libvirt, so no boot loader and no
  partition table: the root is the whole of ``/dev/vda``. Its modules go into the root too
  (cloud-init needs ``8021q``, ``isofs``, ``vfat``...), and the few that reach the root
  disk go into a busybox initramfs written here as a cpio archive, because Debian's
  initramfs-tools would need the kernel installed into the root and take far longer.
- The image is keyed by what goes into it, built in a temporary directory and renamed into
  place, under a file lock: concurrent callers wait for one build and never see half of one.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import io
import lzma
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PACKAGES", "GuestImage", "build", "overlay"]

PACKAGES: tuple[str, ...] = (
    "systemd-sysv",
    "udev",
    "cloud-init",
    "ifupdown",
    "isc-dhcp-client",
    "net-tools",
    "resolvconf",
    "vlan",
    "ifenslave",
    "iproute2",
    "qemu-guest-agent",
    "openssh-server",
    "sudo",
    "e2fsprogs",
    "procps",
    "kmod",
)
"""The guest's Debian packages, besides minbase (see the module docstring for why)."""

BUILD_VERSION = 1
"""Bump when the build steps change in a way the cache key would not see."""

CMDLINE = "root=/dev/vda rw console=ttyS0 net.ifnames=0"
"""``net.ifnames=0``: NICs are ``eth0``, ``eth1``... whatever PCI slot libvirt gives them."""

# The modules that reach the root disk; their dependencies are added from modules.dep.
# crc32c_generic is a soft dependency of ext4 and jbd2 (checksummed metadata), which the
# kernel would otherwise ask modprobe for, and the initramfs has none. The cdrom drivers
# are here too: cloud-init's ds-identify looks for a config drive's label while systemd
# runs its generators, before udev loads any module, so /dev/sr0 must exist by then
# (loading a module waits for its asynchronous device probing).
_ROOT_MODULES = ("virtio_pci", "virtio_blk", "crc32c_generic", "ext4", "ata_piix", "ahci", "sr_mod")

# Module directories no guest under QEMU uses: about two thirds of the modules' size.
_PRUNE = (
    "drivers/gpu",
    "drivers/media",
    "drivers/infiniband",
    "drivers/net/wireless",
    "drivers/staging",
    "drivers/iio",
    "drivers/comedi",
    "drivers/usb",
    "drivers/bluetooth",
    "drivers/isdn",
    "drivers/mtd",
    "sound",
    "net/bluetooth",
    "net/mac80211",
    "net/wireless",
)

# Units that only cost boot time under TCG, or do nothing useful in a short-lived guest.
# getty@tty1 has no screen to serve; serial-getty@ttyS0 (console=ttyS0) stays.
_MASKED = (
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
    "man-db.timer",
    "systemd-timesyncd.service",
    "getty@tty1.service",
    "proc-sys-fs-binfmt_misc.automount",
    "systemd-binfmt.service",
)

# Written into /etc/cloud/cloud.cfg.d. One host key type: RSA key generation alone takes
# seconds under TCG.
_CLOUD_CFG = """\
# guestmeta demo image: see guestmeta.demo.image.
ssh_genkeytypes: [ed25519]
# Only C.UTF-8 exists without running locale-gen in the image.
locale: C.UTF-8
"""

# The agent starts when its virtio port appears, but its unit's default dependencies
# hold it until cloud-init's network stage is over (40 s under TCG): answer from early on.
_AGENT_DROPIN = """\
# guestmeta demo image: see guestmeta.demo.image.
[Unit]
DefaultDependencies=no
After=local-fs.target systemd-journald.socket
Before=shutdown.target
Conflicts=shutdown.target
"""

# Removed from /etc/cloud/cloud.cfg: the guest has no route to a package mirror, so
# user data asking for packages would only wait for DNS timeouts and end in an error.
_DROPPED_MODULES = ("package-update-upgrade-install",)

_APPLETS = ("sh", "cat", "mkdir", "mount", "insmod", "sleep", "switch_root")

INIT = """\
#!/bin/sh
# guestmeta demo initramfs: load the modules that reach the root disk, mount it, switch.
mkdir -p /proc /sys /dev /newroot
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() {
    echo "guestmeta-initramfs: $*; dropping to a shell" >/dev/console
    exec sh </dev/console >/dev/console 2>&1
}
root=/dev/vda
mode=rw
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        root=*) root=${arg#root=} ;;
        ro) mode=ro ;;
        rw) mode=rw ;;
    esac
done
for module in $(cat /modules); do
    insmod "/lib/modules/$module.ko" || fail "insmod $module failed"
done
tries=0
while [ ! -b "$root" ]; do
    tries=$((tries + 1))
    [ "$tries" -gt 200 ] && fail "$root did not appear within 20 s"
    sleep 0.1
done
mount -t ext4 -o "$mode" "$root" /newroot || fail "cannot mount $root"
# An absolute symlink (to /lib/systemd/systemd) resolves only after the switch.
[ -x /newroot/sbin/init ] || [ -L /newroot/sbin/init ] || fail "$root has no /sbin/init"
mount -o move /dev /newroot/dev
mount -o move /proc /newroot/proc
mount -o move /sys /newroot/sys
exec switch_root /newroot /sbin/init
"""
"""The initramfs's /init (busybox sh). It is part of the cache key."""


@dataclass(frozen=True)
class GuestImage:
    """A built image: boot ``kernel`` + ``initrd`` with ``cmdline``, disk from ``rootfs``.

    ``rootfs`` is shared by every guest and must stay unwritten: give each guest an
    :func:`overlay` on it. Callers append their own arguments to ``cmdline``.
    """

    kernel: Path
    initrd: Path
    rootfs: Path
    cmdline: str


def build(cache: Path | None = None, *, log: Callable[[str], None] | None = None) -> GuestImage:
    """The image, built on the first call (about 70 s, 500 MB) and cached after.

    ``cache`` defaults to ``$GUESTMETA_CACHE``, else ``$XDG_CACHE_HOME/guestmeta``, else
    ``~/.cache/guestmeta``. A failed step raises :class:`RuntimeError` naming the step.
    """
    say = log or (lambda _line: None)
    cache = cache or _default_cache()
    cache.mkdir(parents=True, exist_ok=True)
    key = _key(_kernel_version())
    final = cache / f"image-{key[:24]}"
    with open(cache / ".image.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (final / "rootfs.raw").exists():
            say("building guest image (first time, about a minute)")
            started = time.monotonic()
            for stale in cache.glob(".building-*"):  # a killed build's; we hold the lock
                _remove(stale)
            work = Path(tempfile.mkdtemp(dir=cache, prefix=".building-"))
            try:
                _build_into(work, say)
                (work / "out").rename(final)
            finally:
                _remove(work)
            say(f"guest image ready in {time.monotonic() - started:.0f} s: {final}")
    return GuestImage(
        kernel=final / "vmlinuz",
        initrd=final / "initrd.gz",
        rootfs=final / "rootfs.raw",
        cmdline=CMDLINE,
    )


def overlay(image: GuestImage, path: Path, size_gib: int = 2) -> Path:
    """A guest's own writable disk: a qcow2 file backed by the shared read-only root.

    Larger than the root by design: cloud-init grows the file system on first boot.
    """
    path = Path(path)
    _run(
        "overlay disk",
        [
            "qemu-img", "create", "-q", "-f", "qcow2",
            "-b", str(image.rootfs.resolve()), "-F", "raw",
            str(path), f"{size_gib}G",
        ],
    )  # fmt: skip
    return path


def _remove(path: Path) -> None:
    """Delete a build directory, unless something is still mounted in it.

    mmdebstrap mounts the host's /proc, /sys and /dev nodes into the root while it works
    and unmounts them when done or failing; only a killed build leaves them behind, and
    deleting through them would delete the host's own files.
    """
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mounts") as mounts:
        held = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    if held:
        raise RuntimeError(f"guest image: {held[0]} is still mounted; unmount it, then retry")
    shutil.rmtree(path, ignore_errors=True)


def _default_cache() -> Path:
    if os.environ.get("GUESTMETA_CACHE"):
        return Path(os.environ["GUESTMETA_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "guestmeta"


def _key(kernel_version: str) -> str:
    """What goes into the image; the constants below are in it so that editing them is seen."""
    parts = [*PACKAGES, "--", kernel_version, str(BUILD_VERSION), INIT, _CLOUD_CFG, _AGENT_DROPIN]
    parts += [*_ROOT_MODULES, *_PRUNE, *_MASKED, *_DROPPED_MODULES, *_APPLETS]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _run(step: str, argv: Sequence[str], cwd: Path | None = None) -> str:
    """Run one build step; its failure is one line with the tail of its error output."""
    try:
        done = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError:
        raise RuntimeError(
            f"guest image: {step}: {argv[0]} is not installed (scripts/install.sh installs it)"
        ) from None
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr or done.stdout).splitlines()]
        tail = " | ".join([line for line in lines if line][-3:])[-400:]
        raise RuntimeError(f"guest image: {step}: {argv[0]} exited with {done.returncode}: {tail}")
    return done.stdout


def _kernel_version() -> str:
    """The candidate version of ``linux-image-amd64``: it moves with every kernel update.

    One ``apt-cache`` call (under a second), so a cached image is found quickly; apt's
    package lists are fetched first on a machine that has none.
    """
    for attempt in range(2):
        out = _run("kernel version", ["apt-cache", "policy", "linux-image-amd64"])
        for line in out.splitlines():
            version = line.split(":", 1)[1].strip() if ":" in line else ""
            if line.strip().startswith("Candidate:") and version != "(none)":
                return version
        if attempt == 0:
            _run("apt lists", ["apt-get", "update", "-qq"])
    raise RuntimeError("guest image: apt knows no linux-image-amd64 package")


def _kernel_package() -> str:
    """The versioned kernel package that ``linux-image-amd64`` depends on."""
    out = _run("kernel package", ["apt-cache", "depends", "linux-image-amd64"])
    for line in out.splitlines():
        if line.strip().startswith("Depends: linux-image-"):
            return line.split(": ", 1)[1]
    raise RuntimeError("guest image: apt-cache names no kernel behind linux-image-amd64")


def _download(package: str, into: Path) -> Path:
    """One package's .deb, fetched by ``apt-get download`` (nothing is installed)."""
    _run(f"download {package}", ["apt-get", "download", "-q", package], cwd=into)
    found = sorted(into.glob(f"{package}_*.deb"))
    if not found:
        raise RuntimeError(f"guest image: apt-get download {package} left no .deb")
    return found[-1]


def _host_sources() -> list[str]:
    """The host's enabled apt source files, which mmdebstrap reads by their suffix."""
    apt = Path("/etc/apt")
    files = [apt / "sources.list"] if (apt / "sources.list").is_file() else []
    parts = sorted((apt / "sources.list.d").glob("*"))
    files += [p for p in parts if p.suffix in (".list", ".sources") and p.is_file()]
    files = [p for p in files if p.stat().st_size > 0]
    if not files:
        raise RuntimeError("guest image: this host has no apt sources to build from")
    return [str(p) for p in files]


def _build_into(work: Path, say: Callable[[str], None]) -> None:
    root = work / "root"
    out = work / "out"
    out.mkdir()
    say("guest image: installing Debian packages into the root (mmdebstrap)")
    excluded = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*")
    _run(
        "mmdebstrap",
        [
            "mmdebstrap",
            "--mode=root",
            "--variant=minbase",
            "--include=" + ",".join(PACKAGES),
            *[f"--dpkgopt=path-exclude={pattern}" for pattern in excluded],
            "bookworm",
            str(root),
            *_host_sources(),
        ],
    )
    kernel_package = _kernel_package()
    say(f"guest image: adding the kernel ({kernel_package}) and its modules")
    debs = work / "debs"
    debs.mkdir()
    unpacked = work / "unpacked"
    for package in (kernel_package, "busybox-static"):
        deb = _download(package, debs)
        _run(f"unpack {package}", ["dpkg-deb", "-x", str(deb), str(unpacked)])
    shutil.copyfile(next((unpacked / "boot").glob("vmlinuz-*")), out / "vmlinuz")
    version = _install_modules(unpacked, root)
    _configure(root)
    say("guest image: writing the initramfs")
    busybox = (unpacked / "bin" / "busybox").read_bytes()
    (out / "initrd.gz").write_bytes(gzip.compress(_initramfs(root, version, busybox), 6))
    say("guest image: making the ext4 root disk")
    _mkfs(root, out / "rootfs.raw")
    (out / "rootfs.raw").chmod(0o444)


def _install_modules(unpacked: Path, root: Path) -> str:
    """Move the kernel's modules into the root (pruned) and index them; their version."""
    source = next((unpacked / "lib" / "modules").iterdir())
    version = source.name
    for sub in _PRUNE:
        shutil.rmtree(source / "kernel" / sub, ignore_errors=True)
    # /lib is a symlink to usr/lib in Debian 12's root: move into the real directory.
    target = root / "usr" / "lib" / "modules"
    target.mkdir(parents=True, exist_ok=True)
    shutil.move(str(source), str(target / version))
    _run("depmod", ["depmod", "-b", str(root), version])
    return version


def _configure(root: Path) -> None:
    """Make the root a cloud image: no identity of its own, nothing slow at boot."""
    etc = root / "etc"
    (etc / "fstab").write_text("/dev/vda / ext4 rw,errors=remount-ro 0 0\n")
    (etc / "hostname").write_text("")  # cloud-init sets it from the metadata
    (etc / "hostname").chmod(0o644)
    (etc / "hosts").write_text("127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n")
    (etc / "machine-id").write_text("")  # systemd makes one per guest on first boot
    (root / "var" / "lib" / "dbus" / "machine-id").unlink(missing_ok=True)
    for key in (etc / "ssh").glob("ssh_host_*"):
        key.unlink()  # each guest gets its own from cloud-init's ssh module
    # resolvconf's postinst leaves the build host's file in a chroot: point at its own.
    resolv = etc / "resolv.conf"
    resolv.unlink(missing_ok=True)
    resolv.symlink_to("../run/resolvconf/resolv.conf")
    units = etc / "systemd" / "system"
    for unit in _MASKED:
        (units / unit).unlink(missing_ok=True)
        (units / unit).symlink_to("/dev/null")
    cloud = etc / "cloud" / "cloud.cfg"
    text = cloud.read_text()
    for module in _DROPPED_MODULES:
        line = f" - {module}\n"
        if line not in text:
            raise RuntimeError(f"guest image: /etc/cloud/cloud.cfg has no {module} to drop")
        text = text.replace(line, "")
    cloud.write_text(text)
    (etc / "cloud" / "cloud.cfg.d" / "90-guestmeta-demo.cfg").write_text(_CLOUD_CFG)
    agent = units / "qemu-guest-agent.service.d"
    agent.mkdir(exist_ok=True)
    (agent / "early.conf").write_text(_AGENT_DROPIN)
    # The build's leftovers: package lists and caches, and logs of the build itself.
    leftovers = [
        *(root / "var" / "lib" / "apt" / "lists").glob("*_*"),
        *(root / "var" / "cache" / "apt").glob("**/*.bin"),
        *(root / "var" / "cache" / "apt").glob("**/*.deb"),
        *(root / "var" / "log").rglob("*"),
    ]
    for entry in leftovers:
        if entry.is_file() and not entry.is_symlink():
            entry.unlink()
    shutil.rmtree(root / "boot", ignore_errors=True)
    (root / "boot").mkdir()


def _initramfs(root: Path, version: str, busybox: bytes) -> bytes:
    """busybox, /init and the root disk's modules (decompressed) in dependency order."""
    moddir = root / "usr" / "lib" / "modules" / version
    deps: dict[str, list[str]] = {}
    for line in (moddir / "modules.dep").read_text().splitlines():
        path, _, needs = line.partition(":")
        deps[_module_name(path)] = needs.split()
    by_name = {_module_name(p.name): p for p in moddir.rglob("*.ko*")}
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        if name not in by_name:
            raise RuntimeError(f"guest image: kernel {version} has no module {name}")
        for dep in reversed(deps.get(name, [])):
            visit(_module_name(dep))
        order.append(name)

    for name in _ROOT_MODULES:
        visit(name)
    entries: list[tuple[str, int, bytes]] = [
        (d, 0o40755, b"") for d in ("bin", "dev", "proc", "sys", "newroot", "lib", "lib/modules")
    ]
    entries.append(("bin/busybox", 0o100755, busybox))
    entries += [(f"bin/{a}", 0o120777, b"busybox") for a in _APPLETS]
    entries.append(("init", 0o100755, INIT.encode()))
    entries.append(("modules", 0o100644, "".join(f"{n}\n" for n in order).encode()))
    for name in order:
        entries.append((f"lib/modules/{name}.ko", 0o100644, _module_bytes(by_name[name])))
    return _cpio_newc(entries)


def _module_name(path: str) -> str:
    """``kernel/fs/ext4/ext4.ko.xz`` -> ``ext4`` (modprobe's name: dashes as underscores)."""
    base = Path(path).name
    return base.split(".ko", 1)[0].replace("-", "_")


def _module_bytes(path: Path) -> bytes:
    """busybox insmod loads plain ELF only, so compressed modules are unpacked here."""
    data = path.read_bytes()
    if path.name.endswith(".xz"):
        return lzma.decompress(data)
    if path.name.endswith(".gz"):
        return gzip.decompress(data)
    return data


def _cpio_newc(entries: list[tuple[str, int, bytes]]) -> bytes:
    """An initramfs archive (cpio "newc"), written here since cpio is not installed.

    ``entries``: (path, mode, data); directories carry no data, symlinks their target.
    """
    out = io.BytesIO()

    def add(name: str, mode: int, data: bytes, ino: int) -> None:
        encoded = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0]
        header = b"070701" + b"".join(f"{v:08x}".encode() for v in fields)
        out.write(header + encoded)
        out.write(b"\0" * (-(len(header) + len(encoded)) % 4))
        out.write(data)
        out.write(b"\0" * (-len(data) % 4))

    for ino, (name, mode, data) in enumerate(entries, start=1):
        add(name, mode, data, ino)
    add("TRAILER!!!", 0, b"", 0)
    return out.getvalue()


def _mkfs(root: Path, image: Path) -> None:
    """An ext4 image of ``root``, sized to it with room for the first boot's writes."""
    used = 0
    files = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + dirnames:
            files += 1
            used += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
    size_mib = (used * 5 // 4) // 2**20 + 128
    _run(
        "mkfs.ext4",
        [
            "mkfs.ext4", "-q", "-F", "-L", "guestroot", "-N", str(files + 32768),
            "-d", str(root), str(image), f"{size_mib}M",
        ],
    )  # fmt: skip
