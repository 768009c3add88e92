"""What one host does with the store and libvirt.

The agent keeps every local domain's ``nova:instance`` element and NICs equal to the
store; ``port attach``/``port detach`` change the store and the domain together; NICs
plugged by others are adopted and NICs of ports the store detached are unplugged. The
calls to libvirt themselves live in ``guestmeta.libvirt``; this package decides what to
call and when.
"""

from guestmeta.host.agent import Agent, attach_ports
from guestmeta.host.nics import NicPlan
from guestmeta.host.ports import PortChange, attach_port, detach_port
from guestmeta.host.wanted import managed, wanted

__all__ = [
    "Agent",
    "NicPlan",
    "PortChange",
    "attach_port",
    "attach_ports",
    "detach_port",
    "managed",
    "wanted",
]
