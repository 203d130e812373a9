"""agent health: latest heartbeat per agent and a bounded history

Revision ID: 0004_agent_health
Revises: 0001_core
"""
import sqlalchemy as sa
from alembic import op

revision = '0004_agent_health'
down_revision = '0001_core'
branch_labels = ("health",)
depends_on = None


def upgrade() -> None:
    op.create_table('agent_health',
    sa.Column('agent_id', sa.String(length=36), nullable=False),
    sa.Column('org', sa.String(length=64), nullable=False),
    sa.Column('last_heartbeat_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('interval_seconds', sa.Float(), nullable=False),
    sa.Column('heartbeats', sa.Integer(), nullable=False),
    sa.Column('report', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('agent_id', name=op.f('pk_agent_health'))
    )
    with op.batch_alter_table('agent_health', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_health_org'), ['org'], unique=False)

    op.create_table('agent_heartbeats',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('agent_id', sa.String(length=36), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('report', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_heartbeats'))
    )
    with op.batch_alter_table('agent_heartbeats', schema=None) as batch_op:
        batch_op.create_index('ix_agent_heartbeats_agent_received', ['agent_id', 'received_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('agent_heartbeats', schema=None) as batch_op:
        batch_op.drop_index('ix_agent_heartbeats_agent_received')
    op.drop_table('agent_heartbeats')
    with op.batch_alter_table('agent_health', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_health_org'))
    op.drop_table('agent_health')
