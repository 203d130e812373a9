"""records: the rejected record's own key (UPRN, referral id...), so a council can find it in its system

Revision ID: 0110_record_reject_keys
Revises: 0050_dataset_cadence
"""
import sqlalchemy as sa
from alembic import op

revision = '0110_record_reject_keys'
down_revision = '0050_dataset_cadence'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('record_rejects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('key', sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('record_rejects', schema=None) as batch_op:
        batch_op.drop_column('key')
