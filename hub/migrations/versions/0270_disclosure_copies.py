"""Disclosures: one row for the same record handed to the same recipient several times at once
(`copies`), e.g. by several subscriptions of one recipient sent the same page together.

Revision ID: 0270_disclosure_copies
Revises: 0014_secrets_pseudonym_key
"""
import sqlalchemy as sa
from alembic import op

revision = "0270_disclosure_copies"
down_revision = "0014_secrets_pseudonym_key"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("disclosures") as batch_op:
        batch_op.add_column(sa.Column("copies", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("disclosures") as batch_op:
        batch_op.drop_column("copies")
