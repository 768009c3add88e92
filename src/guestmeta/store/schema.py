"""The tables. Alembic migrations under ``migrations/`` create exactly these.

Each kind has its identity and the columns that lookups and joins need; the rest
of the item is the JSON in ``data``. ``fixed_ips`` is derived from ports on every
write (with the server each address belongs to, trunk sub-ports included) so that
"which server has this address on this network" is one indexed read.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()
Data = JSON().with_variant(JSONB(), "postgresql")

state = Table(
    "state",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

networks = Table(
    "networks",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("name", String(255), nullable=False, index=True),
    Column("data", Data, nullable=False),
)

subnets = Table(
    "subnets",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("name", String(255), nullable=False, index=True),
    Column("network_id", String(255), nullable=False, index=True),
    Column("data", Data, nullable=False),
)

ports = Table(
    "ports",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("name", String(255), nullable=False, index=True),
    Column("network_id", String(255), nullable=False, index=True),
    Column("mac_address", String(17), nullable=False, index=True),
    Column("device_id", String(255), nullable=False, index=True),
    Column("seq", BigInteger, nullable=False),
    Column("data", Data, nullable=False),
)

fixed_ips = Table(
    "fixed_ips",
    metadata,
    Column("port_id", String(255), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("network_id", String(255), nullable=False),
    Column("subnet_id", String(255), nullable=False),
    Column("ip_address", String(64), nullable=False),
    Column("server_id", String(255), nullable=False, index=True),
    Index("ix_fixed_ips_network_address", "network_id", "ip_address"),
)

floatingips = Table(
    "floatingips",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("floating_ip_address", String(64), nullable=False, unique=True),
    Column("port_id", String(255), nullable=True, index=True),
    Column("data", Data, nullable=False),
)

bonds = Table(
    "bonds",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("data", Data, nullable=False),
)

keypairs = Table(
    "keypairs",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("data", Data, nullable=False),
)

servers = Table(
    "servers",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("name", String(255), nullable=False, index=True),
    Column("domain_name", String(255), nullable=False, index=True),
    Column("host", String(255), nullable=True, index=True),
    Column("data", Data, nullable=False),
)

# What a guest posted as its password (cloudbase-init encrypts it with the instance's SSH
# key first). Not part of the topology: it does not move the revision, and the documents
# never hold it; the metadata service reads it per request.
passwords = Table(
    "passwords",
    metadata,
    Column("server_id", String(255), primary_key=True),
    Column("password", String(1020), nullable=False),
)

# Where the hypervisor put each NIC (``pci``, ``0000:00:03.0``), as the host agent read it
# from the domain's XML: the store cannot know it, libvirt assigns it. meta_data.json's
# ``devices`` needs it for tagged NICs, as Nova's does.
nic_addresses = Table(
    "nic_addresses",
    metadata,
    Column("mac_address", String(17), primary_key=True),
    Column("server_id", String(255), nullable=False, index=True),
    Column("bus", String(16), nullable=False),
    Column("address", String(64), nullable=False),
)

# The per-host change feed: the last revision that touched each server of each host
# (the host it is on, and the one it left). A host asks for its rows above the revision
# it applied, so what it reads does not grow with the number of other hosts, and a row is
# replaced rather than added, so the table holds one row per server and host it was on.
host_feed = Table(
    "host_feed",
    metadata,
    Column("host", String(255), primary_key=True),
    Column("server_id", String(255), primary_key=True),
    Column("revision", BigInteger, nullable=False),
    Index("ix_host_feed_host_revision", "host", "revision"),
)

# What each host's agent and service last reported: the revision they applied, when (the
# database's clock, in seconds since the epoch, so hosts' clocks do not matter) and their
# recent failures (a JSON list of [time, message]). ``guestmeta status`` reads it.
host_status = Table(
    "host_status",
    metadata,
    Column("host", String(255), primary_key=True),
    Column("role", String(16), primary_key=True),
    Column("pid", Integer, nullable=False),
    Column("applied", BigInteger, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("seen_at", Float, nullable=False),
    Column("failures", Text, nullable=False),
)

TABLES = {
    "networks": networks,
    "subnets": subnets,
    "ports": ports,
    "floatingips": floatingips,
    "bonds": bonds,
    "keypairs": keypairs,
    "servers": servers,
}
