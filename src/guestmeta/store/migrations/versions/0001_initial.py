"""Initial schema: items by kind, derived fixed IPs, and the store revision.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Data = sa.JSON().with_variant(JSONB(), "postgresql")
Id = sa.String(255)


def upgrade() -> None:
    state = op.create_table(
        "state",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(state, [{"key": "revision", "value": 0}])
    op.create_table(
        "networks",
        sa.Column("id", Id, primary_key=True),
        sa.Column("name", Id, nullable=False, index=True),
        sa.Column("data", Data, nullable=False),
    )
    op.create_table(
        "subnets",
        sa.Column("id", Id, primary_key=True),
        sa.Column("name", Id, nullable=False, index=True),
        sa.Column("network_id", Id, nullable=False, index=True),
        sa.Column("data", Data, nullable=False),
    )
    op.create_table(
        "ports",
        sa.Column("id", Id, primary_key=True),
        sa.Column("name", Id, nullable=False, index=True),
        sa.Column("network_id", Id, nullable=False, index=True),
        sa.Column("mac_address", sa.String(17), nullable=False),
        sa.Column("device_id", Id, nullable=False, index=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("data", Data, nullable=False),
    )
    op.create_table(
        "fixed_ips",
        sa.Column("port_id", Id, primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("network_id", Id, nullable=False),
        sa.Column("subnet_id", Id, nullable=False),
        sa.Column("ip_address", sa.String(64), nullable=False),
        sa.Column("server_id", Id, nullable=False, index=True),
    )
    op.create_index("ix_fixed_ips_network_address", "fixed_ips", ["network_id", "ip_address"])
    op.create_table(
        "floatingips",
        sa.Column("id", Id, primary_key=True),
        sa.Column("floating_ip_address", sa.String(64), nullable=False, unique=True),
        sa.Column("port_id", Id, nullable=True, index=True),
        sa.Column("data", Data, nullable=False),
    )
    op.create_table(
        "bonds",
        sa.Column("id", Id, primary_key=True),
        sa.Column("name", Id, nullable=False),
        sa.Column("data", Data, nullable=False),
    )
    op.create_table(
        "keypairs",
        sa.Column("name", Id, primary_key=True),
        sa.Column("data", Data, nullable=False),
    )
    op.create_table(
        "servers",
        sa.Column("id", Id, primary_key=True),
        sa.Column("name", Id, nullable=False, index=True),
        sa.Column("domain_name", Id, nullable=False, index=True),
        sa.Column("host", Id, nullable=True, index=True),
        sa.Column("data", Data, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "servers",
        "keypairs",
        "bonds",
        "floatingips",
        "fixed_ips",
        "ports",
        "subnets",
        "networks",
        "state",
    ):
        op.drop_table(table)
