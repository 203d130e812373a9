"""policy: agreements and their versions, approvals, history, consents, objections, disclosures

Revision ID: 0002_policy
Revises: 0001_core
"""
import sqlalchemy as sa
from alembic import op

revision = '0002_policy'
down_revision = '0001_core'
branch_labels = None
depends_on = None

BigInt = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('agreements',
    sa.Column('id', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('pseudonym_key', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreements'))
    )
    op.create_table('agreement_versions',
    sa.Column('agreement_id', sa.String(length=100), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('changes', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revision', BigInt, nullable=False),
    sa.PrimaryKeyConstraint('agreement_id', 'version', name=op.f('pk_agreement_versions'))
    )
    with op.batch_alter_table('agreement_versions', schema=None) as batch_op:
        batch_op.create_index('ix_agreement_versions_revision', ['revision'], unique=False)
    op.create_table('agreement_parties',
    sa.Column('agreement_id', sa.String(length=100), nullable=False),
    sa.Column('org', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('agreement_id', 'org', name=op.f('pk_agreement_parties'))
    )
    op.create_table('agreement_approvals',
    sa.Column('agreement_id', sa.String(length=100), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('org', sa.String(length=64), nullable=False),
    sa.Column('side', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('agreement_id', 'version', 'org', name=op.f('pk_agreement_approvals'))
    )
    op.create_table('agreement_history',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('agreement_id', sa.String(length=100), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreement_history'))
    )
    with op.batch_alter_table('agreement_history', schema=None) as batch_op:
        batch_op.create_index('ix_agreement_history_agreement', ['agreement_id'], unique=False)
    op.create_table('consents',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('controller', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=100), nullable=False),
    sa.Column('recipients', sa.Text(), nullable=False),
    sa.Column('method', sa.String(length=100), nullable=False),
    sa.Column('evidence_ref', sa.String(length=200), nullable=False),
    sa.Column('given_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=200), nullable=False),
    sa.Column('revision', BigInt, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consents'))
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index('ix_consents_subject', ['subject', 'controller'], unique=False)
        batch_op.create_index('ix_consents_revision', ['revision'], unique=False)
    op.create_table('objections',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('controller', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=100), nullable=True),
    sa.Column('method', sa.String(length=100), nullable=False),
    sa.Column('evidence_ref', sa.String(length=200), nullable=False),
    sa.Column('lodged_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=200), nullable=False),
    sa.Column('revision', BigInt, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_objections'))
    )
    with op.batch_alter_table('objections', schema=None) as batch_op:
        batch_op.create_index('ix_objections_subject', ['subject', 'controller'], unique=False)
        batch_op.create_index('ix_objections_revision', ['revision'], unique=False)
    op.create_table('disclosures',
    sa.Column('id', BigInt, autoincrement=True, nullable=False),
    sa.Column('record_id', sa.String(length=36), nullable=False),
    sa.Column('seq', BigInt, nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=True),
    sa.Column('dataset', sa.String(length=100), nullable=False),
    sa.Column('provider', sa.String(length=64), nullable=False),
    sa.Column('recipient', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=100), nullable=False),
    sa.Column('agreement_id', sa.String(length=100), nullable=False),
    sa.Column('agreement_version', sa.Integer(), nullable=False),
    sa.Column('lawful_basis', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disclosures'))
    )
    with op.batch_alter_table('disclosures', schema=None) as batch_op:
        batch_op.create_index('ix_disclosures_subject', ['subject', 'provider'], unique=False)
        batch_op.create_index('ix_disclosures_recipient', ['recipient', 'seq'], unique=False)
    op.create_table('policy_revision',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('revision', BigInt, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_policy_revision'))
    )
    op.execute("INSERT INTO policy_revision (id, revision) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table('policy_revision')
    op.drop_table('disclosures')
    op.drop_table('objections')
    op.drop_table('consents')
    op.drop_table('agreement_history')
    op.drop_table('agreement_approvals')
    op.drop_table('agreement_parties')
    op.drop_table('agreement_versions')
    op.drop_table('agreements')
