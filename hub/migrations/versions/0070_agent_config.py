"""agentconfig: hub-managed agents' configuration versions and the agents' reports

Revision ID: 0070_agent_config
Revises: 0001_core
"""
import sqlalchemy as sa
from alembic import op

revision = '0070_agent_config'
down_revision = '0001_core'
branch_labels = ("agentconfig",)
depends_on = None


def upgrade() -> None:
    op.create_table('agent_config_versions',
    sa.Column('agent_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('org', sa.String(length=64), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('agent_id', 'version', name=op.f('pk_agent_config_versions'))
    )
    with op.batch_alter_table('agent_config_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_config_versions_org'), ['org'], unique=False)

    op.create_table('agent_config_reports',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('agent_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_config_reports'))
    )
    with op.batch_alter_table('agent_config_reports', schema=None) as batch_op:
        batch_op.create_index('ix_agent_config_reports_agent', ['agent_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_table('agent_config_reports')
    op.drop_table('agent_config_versions')
