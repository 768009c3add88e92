"""A real guest to try guestmeta's documents on: a small Debian 12 image with cloud-init.

The one judge of a config drive or a metadata service that matters is a real guest
applying it, so this package builds one on the machine itself, from Debian's packages
and the host's own apt sources, and caches it: a kernel, a busybox initramfs and a raw
ext4 root that boots under libvirt's QEMU TCG (no KVM needed), with cloud-init rendering
ifupdown files (VLANs survive) and the QEMU guest agent to look inside. Each guest boots
from its own qcow2 overlay, so the cached base is never written. See
:mod:`guestmeta.demo.image`.
"""
