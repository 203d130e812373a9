"""records: a dataset's expected publishing cadence, for the coverage view

Revision ID: 0050_dataset_cadence
Revises: 0011_records_publisher_ids
"""
import sqlalchemy as sa
from alembic import op

revision = '0050_dataset_cadence'
down_revision = '0011_records_publisher_ids'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cadence', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.drop_column('cadence')
