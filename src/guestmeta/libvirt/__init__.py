"""Everything that talks to libvirt, and the domain metadata element it stores for us."""
