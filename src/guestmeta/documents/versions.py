"""Which metadata versions exist and what each one added.

Guests ask for a dated version and must get exactly what that version had: cloud-init
picks the newest dated directory it knows, glean and cloudbase-init read ``latest``.
Keeping the dates in one place lets the tree, the HTTP service and the config drive agree.
"""

from __future__ import annotations

OPENSTACK_VERSIONS = (
    "2012-08-10",
    "2013-04-04",
    "2013-10-17",
    "2015-10-15",
    "2016-06-30",
    "2016-10-06",
    "2017-02-22",
    "2018-08-27",
    "2020-10-14",
    "2025-04-04",
)
LATEST = "latest"
# The version each feature first appeared in.
PASSWORD = "2013-04-04"
RANDOM_SEED = "2013-04-04"
VENDOR_DATA = "2013-10-17"
NETWORK_DATA = "2015-10-15"
PROJECT_ID = "2015-10-15"
DEVICES = "2016-06-30"
VENDOR_DATA2 = "2016-10-06"
DEVICE_VLAN = "2017-02-22"
DEVICE_VF_TRUSTED = "2018-08-27"
DEDICATED_CPUS = "2020-10-14"

EC2_VERSIONS = (
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
)
# The EC2 versions a config drive carries as flat JSON (as Nova writes them).
EC2_DRIVE_VERSIONS = ("2009-04-04", LATEST)


def openstack_versions() -> tuple[str, ...]:
    """Every OpenStack version directory, oldest first, then ``latest``."""
    return (*OPENSTACK_VERSIONS, LATEST)


def ec2_versions() -> tuple[str, ...]:
    """Every EC2 version directory, oldest first, then ``latest``."""
    return (*EC2_VERSIONS, LATEST)


def has(version: str, since: str) -> bool:
    """Whether ``version`` (a date, ``1.0`` or ``latest``) includes a feature added ``since``.

    ISO dates compare as strings; ``1.0`` is older than any date and ``latest`` newer.
    """
    if version == LATEST:
        return True
    if version == "1.0":
        return since == "1.0"
    return since == "1.0" or version >= since
