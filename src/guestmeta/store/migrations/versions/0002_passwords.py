"""What hosts and guests add beside the topology: passwords guests post to the metadata
service, and the bus addresses of NICs that host agents read from domain XML.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "passwords",
        sa.Column("server_id", sa.String(255), primary_key=True),
        sa.Column("password", sa.String(1020), nullable=False),
    )
    op.create_table(
        "nic_addresses",
        sa.Column("mac_address", sa.String(17), primary_key=True),
        sa.Column("server_id", sa.String(255), nullable=False, index=True),
        sa.Column("bus", sa.String(16), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("nic_addresses")
    op.drop_table("passwords")
