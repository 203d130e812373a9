"""open data: what the public may read (each key's current state, as its agreement allows),
the projector's cursor, and the catalogue metadata portals harvest

Revision ID: 0140_open_data
Revises: 0001_core
"""
import sqlalchemy as sa
from alembic import op

revision = '0140_open_data'
down_revision = '0001_core'
branch_labels = ("opendata",)
depends_on = None


def upgrade() -> None:
    op.create_table('open_records',
    sa.Column('dataset', sa.String(length=100), nullable=False),
    sa.Column('publisher', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('op', sa.String(length=8), nullable=False),
    sa.Column('postcode_district', sa.String(length=8), nullable=True),
    sa.Column('payload', sa.Text(), nullable=True),
    sa.Column('agreement_id', sa.String(length=100), nullable=False),
    sa.Column('occurred_at', sa.String(length=40), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('dataset', 'publisher', 'key', name=op.f('pk_open_records'))
    )
    with op.batch_alter_table('open_records', schema=None) as batch_op:
        batch_op.create_index('ix_open_records_dataset_seq', ['dataset', 'seq'], unique=False)
        batch_op.create_index('ix_open_records_dataset_district_seq', ['dataset', 'postcode_district', 'seq'],
                              unique=False)
    op.create_table('open_state',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('cursor', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('routes', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_open_state'))
    )
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('open_data', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.drop_column('open_data')
    op.drop_table('open_state')
    with op.batch_alter_table('open_records', schema=None) as batch_op:
        batch_op.drop_index('ix_open_records_dataset_district_seq')
        batch_op.drop_index('ix_open_records_dataset_seq')
    op.drop_table('open_records')
