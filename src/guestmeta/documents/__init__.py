"""Documents: pure functions from a server in the model to the files its guest reads.

One module per format; :mod:`guestmeta.documents.tree` puts them together into the tree
that the metadata service and the config drive both serve.
"""

from guestmeta.documents import versions
from guestmeta.documents.devices import DeviceAddress, Devices
from guestmeta.documents.ec2 import ec2_meta_data
from guestmeta.documents.meta_data import (
    RANDOM_SEED_BYTES,
    RANDOM_SEED_PLACEHOLDER,
    meta_data,
    new_random_seed,
)
from guestmeta.documents.network_data import network_data
from guestmeta.documents.options import DocumentOptions
from guestmeta.documents.tree import Document, Tree, document_tree, ec2_tree, encode, service_tree
from guestmeta.documents.vendor_data import VendorData, VendorDataError
from guestmeta.documents.versions import EC2_VERSIONS, LATEST, OPENSTACK_VERSIONS

__all__ = [
    "EC2_VERSIONS",
    "LATEST",
    "OPENSTACK_VERSIONS",
    "RANDOM_SEED_BYTES",
    "RANDOM_SEED_PLACEHOLDER",
    "DeviceAddress",
    "Devices",
    "Document",
    "DocumentOptions",
    "Tree",
    "VendorData",
    "VendorDataError",
    "document_tree",
    "ec2_meta_data",
    "ec2_tree",
    "encode",
    "meta_data",
    "network_data",
    "new_random_seed",
    "service_tree",
    "versions",
]
