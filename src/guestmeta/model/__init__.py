"""The data model: immutable value objects, the rules they obey and the one index every
output reads, free of any format."""

from guestmeta.model.changes import Change, Plan, diff
from guestmeta.model.errors import FieldError, InvalidItem, Problem, ValidationError
from guestmeta.model.index import SubPortOf, TopologyIndex
from guestmeta.model.kinds import KINDS, noun
from guestmeta.model.network import AllocationPool, HostRoute, Network, Subnet
from guestmeta.model.port import Bond, FixedIP, FloatingIP, Port, SubPort, Trunk, tap_name
from guestmeta.model.server import Flavor, Keypair, Server
from guestmeta.model.topology import Topology

__all__ = [
    "KINDS",
    "AllocationPool",
    "Bond",
    "Change",
    "FieldError",
    "FixedIP",
    "Flavor",
    "FloatingIP",
    "HostRoute",
    "InvalidItem",
    "Keypair",
    "Network",
    "Plan",
    "Port",
    "Problem",
    "Server",
    "SubPort",
    "SubPortOf",
    "Subnet",
    "Topology",
    "TopologyIndex",
    "Trunk",
    "ValidationError",
    "diff",
    "noun",
    "tap_name",
]
