"""The data model: immutable value objects and the rules they obey, free of any format."""

from guestmeta.model.errors import FieldError, InvalidItem, Problem, ValidationError
from guestmeta.model.network import AllocationPool, HostRoute, Network, Subnet
from guestmeta.model.port import Bond, FixedIP, FloatingIP, Port, SubPort, Trunk
from guestmeta.model.server import Flavor, Keypair, Server
from guestmeta.model.topology import KINDS, Topology

__all__ = [
    "KINDS",
    "AllocationPool",
    "Bond",
    "FieldError",
    "FixedIP",
    "Flavor",
    "FloatingIP",
    "HostRoute",
    "InvalidItem",
    "Keypair",
    "Network",
    "Port",
    "Problem",
    "Server",
    "SubPort",
    "Subnet",
    "Topology",
    "Trunk",
    "ValidationError",
]
