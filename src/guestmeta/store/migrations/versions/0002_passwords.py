"""Passwords that guests post to the metadata service.

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


def downgrade() -> None:
    op.drop_table("passwords")
