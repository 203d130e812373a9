"""Agreements' pseudonymisation keys are stored sealed (hub.sealing): longer than 64 hex digits.

Revision ID: 0014_secrets_pseudonym_key
Revises: 0002_policy
"""
import sqlalchemy as sa
from alembic import op

revision = "0014_secrets_pseudonym_key"
down_revision = "0002_policy"
branch_labels = ("policy",)
depends_on = None


def upgrade() -> None:
    # Existing keys stay as they are; `causeway-hub init` seals them (it holds the key, a migration does not).
    with op.batch_alter_table("agreements") as batch_op:
        batch_op.alter_column("pseudonym_key", existing_type=sa.String(length=64), type_=sa.Text(),
                              existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("agreements") as batch_op:
        batch_op.alter_column("pseudonym_key", existing_type=sa.Text(), type_=sa.String(length=64),
                              existing_nullable=False)
