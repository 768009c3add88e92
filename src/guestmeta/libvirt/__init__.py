"""Everything that talks to libvirt, and the domain metadata element it stores for us.

Reading and writing the element needs no agent::

    import libvirt
    from guestmeta import Store
    from guestmeta.libvirt import desired, load_any, sync, LIVE

    dom = libvirt.open("qemu:///system").lookupByName("instance-0000002a")
    meta = load_any(dom, LIVE)             # InstanceMetadata (1.1, else 1.0) or None
    print([(p.uuid, [ip.address for ip in p.ips]) for p in meta.ports])
    topology = Store().load()
    outcome = sync(dom, desired(topology, server_id))   # writes live+config if they differ

The agent (``guestmeta.libvirt.agent.Agent``) and port hot-plug
(``guestmeta.libvirt.ports``) build on these.
"""

from guestmeta.libvirt.domain import (
    CONFIG,
    LIVE,
    affected,
    element_xml,
    load,
    load_any,
    read,
    remove,
    write,
)
from guestmeta.libvirt.metadata import (
    IP,
    NS,
    NS_1_0,
    FlavorInfo,
    InstanceMetadata,
    MetadataError,
    PortIPs,
    canonical,
    desired,
    desired_many,
    from_xml,
    to_xml,
)
from guestmeta.libvirt.reconcile import Outcome, PassReport, full_pass, sync, wanted

__all__ = [
    "CONFIG",
    "IP",
    "LIVE",
    "NS",
    "NS_1_0",
    "FlavorInfo",
    "InstanceMetadata",
    "MetadataError",
    "Outcome",
    "PassReport",
    "PortIPs",
    "affected",
    "canonical",
    "desired",
    "desired_many",
    "element_xml",
    "from_xml",
    "full_pass",
    "load",
    "load_any",
    "read",
    "remove",
    "sync",
    "to_xml",
    "wanted",
    "write",
]
