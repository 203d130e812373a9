"""core: orgs, credentials, agents, catalogue, record log, audit

Revision ID: 0001_core
Revises: 
Create Date: 2026-11-22 14:24:16.766308
"""
import sqlalchemy as sa
from alembic import op

revision = '0001_core'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('org', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=100), nullable=False),
    sa.Column('target', sa.String(length=200), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_action', ['action'], unique=False)
        batch_op.create_index('ix_audit_log_org', ['org'], unique=False)

    op.create_table('batches',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('org', sa.String(length=64), nullable=False),
    sa.Column('credential_id', sa.String(length=32), nullable=False),
    sa.Column('agent_id', sa.String(length=36), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('record_count', sa.Integer(), nullable=False),
    sa.Column('manifest', sa.Text(), nullable=True),
    sa.Column('signature', sa.Text(), nullable=True),
    sa.Column('signature_verified', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batches'))
    )
    op.create_table('dataset_schemas',
    sa.Column('dataset', sa.String(length=100), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('dataset', 'version', name=op.f('pk_dataset_schemas'))
    )
    op.create_table('datasets',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('owner', sa.String(length=64), nullable=False),
    sa.Column('personal', sa.Boolean(), nullable=False),
    sa.Column('key_field', sa.String(length=100), nullable=False),
    sa.Column('periodic', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_datasets'))
    )
    op.create_table('orgs',
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('slug', name=op.f('pk_orgs'))
    )
    op.create_table('records',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('dataset', sa.String(length=100), nullable=False),
    sa.Column('schema_version', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('op', sa.String(length=8), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=True),
    sa.Column('publisher', sa.String(length=64), nullable=False),
    sa.Column('occurred_at', sa.String(length=40), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('batch_id', sa.String(length=64), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_records')),
    sa.UniqueConstraint('id', name=op.f('uq_records_id'))
    )
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.create_index('ix_records_dataset_seq', ['dataset', 'seq'], unique=False)
        batch_op.create_index('ix_records_publisher_dataset_seq', ['publisher', 'dataset', 'seq'], unique=False)
        batch_op.create_index('ix_records_subject', ['subject'], unique=False)

    op.create_table('agents',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('org', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('public_key', sa.Text(), nullable=False),
    sa.Column('enrolled_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['org'], ['orgs.slug'], name=op.f('fk_agents_org_orgs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agents'))
    )
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agents_org'), ['org'], unique=False)

    op.create_table('credentials',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('org', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('agent_id', sa.String(length=36), nullable=True),
    sa.Column('label', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['org'], ['orgs.slug'], name=op.f('fk_credentials_org_orgs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credentials'))
    )
    with op.batch_alter_table('credentials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credentials_org'), ['org'], unique=False)

    op.create_table('enrolment_tokens',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('org', sa.String(length=64), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('agent_id', sa.String(length=36), nullable=True),
    sa.ForeignKeyConstraint(['org'], ['orgs.slug'], name=op.f('fk_enrolment_tokens_org_orgs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrolment_tokens'))
    )


def downgrade() -> None:
    op.drop_table('enrolment_tokens')
    with op.batch_alter_table('credentials', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credentials_org'))

    op.drop_table('credentials')
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agents_org'))

    op.drop_table('agents')
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_index('ix_records_subject')
        batch_op.drop_index('ix_records_publisher_dataset_seq')
        batch_op.drop_index('ix_records_dataset_seq')

    op.drop_table('records')
    op.drop_table('orgs')
    op.drop_table('datasets')
    op.drop_table('dataset_schemas')
    op.drop_table('batches')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_org')
        batch_op.drop_index('ix_audit_log_action')

    op.drop_table('audit_log')
