"""open data: residents' e-mail alerts (double opt-in), usage counts per dataset and day, and
published tables of counts

Revision ID: 0141_open_alerts
Revises: 0140_open_data
"""
import sqlalchemy as sa
from alembic import op

revision = '0141_open_alerts'
down_revision = '0140_open_data'
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('open_alerts',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('dataset', sa.String(length=100), nullable=False),
    sa.Column('district', sa.String(length=8), nullable=False),
    sa.Column('daily', sa.Boolean(), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('after', BIGINT, nullable=False),
    sa.Column('last_sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open_alerts')),
    sa.UniqueConstraint('email', 'dataset', 'district', name='uq_open_alerts_choice')
    )
    with op.batch_alter_table('open_alerts', schema=None) as batch_op:
        batch_op.create_index('ix_open_alerts_dataset_confirmed', ['dataset', 'confirmed_at'], unique=False)
    op.create_table('open_usage',
    sa.Column('dataset', sa.String(length=100), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('count', BIGINT, nullable=False),
    sa.PrimaryKeyConstraint('dataset', 'day', 'kind', name=op.f('pk_open_usage'))
    )
    op.create_table('open_aggregates',
    sa.Column('agreement_id', sa.String(length=100), nullable=False),
    sa.Column('dataset', sa.String(length=100), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('agreement_id', 'dataset', name=op.f('pk_open_aggregates'))
    )


def downgrade() -> None:
    op.drop_table('open_aggregates')
    op.drop_table('open_usage')
    with op.batch_alter_table('open_alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_open_alerts_dataset_confirmed')
    op.drop_table('open_alerts')
