"""The host package's tests use the libvirt tests' scenario: one real libvirtd, a store
with hand-written servers, and readers for the XML libvirt keeps."""

from tests.libvirt.conftest import qemu, scenario_store

__all__ = ["qemu", "scenario_store"]
