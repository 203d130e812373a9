"""record rejects: what was wrong with rejected records, for data-quality reports

Revision ID: 0007_record_rejects
Revises: 0001_core
"""
import sqlalchemy as sa
from alembic import op

revision = '0007_record_rejects'
down_revision = '0001_core'
branch_labels = ("records",)
depends_on = None


def upgrade() -> None:
    op.create_table('record_rejects',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('batch_id', sa.String(length=64), nullable=False),
    sa.Column('publisher', sa.String(length=64), nullable=False),
    sa.Column('dataset', sa.String(length=100), nullable=False),
    sa.Column('record_index', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.String(length=64), nullable=True),
    sa.Column('path', sa.String(length=300), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_record_rejects'))
    )
    with op.batch_alter_table('record_rejects', schema=None) as batch_op:
        batch_op.create_index('ix_record_rejects_received_at', ['received_at'], unique=False)
        batch_op.create_index('ix_record_rejects_publisher_dataset', ['publisher', 'dataset'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('record_rejects', schema=None) as batch_op:
        batch_op.drop_index('ix_record_rejects_publisher_dataset')
        batch_op.drop_index('ix_record_rejects_received_at')
    op.drop_table('record_rejects')
