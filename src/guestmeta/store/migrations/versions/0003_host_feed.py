"""The per-host change feed and the hosts' reports, for many hosts on one store.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "host_feed",
        sa.Column("host", sa.String(255), primary_key=True),
        sa.Column("server_id", sa.String(255), primary_key=True),
        sa.Column("revision", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_host_feed_host_revision", "host_feed", ["host", "revision"])
    op.create_table(
        "host_status",
        sa.Column("host", sa.String(255), primary_key=True),
        sa.Column("role", sa.String(16), primary_key=True),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("applied", sa.BigInteger, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("seen_at", sa.Float, nullable=False),
        sa.Column("failures", sa.Text, nullable=False),
    )
    op.create_index("ix_ports_mac_address", "ports", ["mac_address"])


def downgrade() -> None:
    op.drop_index("ix_ports_mac_address", "ports")
    op.drop_table("host_status")
    op.drop_index("ix_host_feed_host_revision", "host_feed")
    op.drop_table("host_feed")
