"""alerts: episodes, their orgs and history, silences, contacts, notification claims

Revision ID: 0060_alerts
Revises: 0001_core
"""
import sqlalchemy as sa
from alembic import op

revision = '0060_alerts'
down_revision = '0001_core'
branch_labels = ('alerts',)
depends_on = None


def upgrade() -> None:
    op.create_table('alert_contacts',
    sa.Column('org', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('webhook_url', sa.String(length=2000), nullable=True),
    sa.Column('webhook_secret', sa.Text(), nullable=True),
    sa.Column('quality_report', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('org', name=op.f('pk_alert_contacts'))
    )
    op.create_table('alert_episode_orgs',
    sa.Column('episode_id', sa.Integer(), nullable=False),
    sa.Column('org', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('episode_id', 'org', name=op.f('pk_alert_episode_orgs'))
    )
    with op.batch_alter_table('alert_episode_orgs', schema=None) as batch_op:
        batch_op.create_index('ix_alert_episode_orgs_org', ['org'], unique=False)

    op.create_table('alert_episodes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('rule', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('summary', sa.String(length=500), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_episodes'))
    )
    with op.batch_alter_table('alert_episodes', schema=None) as batch_op:
        batch_op.create_index('ix_alert_episodes_rule_key_state', ['rule', 'key', 'state'], unique=False)

    op.create_table('alert_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('episode_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_events'))
    )
    with op.batch_alter_table('alert_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_events_episode_id'), ['episode_id'], unique=False)

    op.create_table('alert_notifications',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('subject', sa.String(length=100), nullable=False),
    sa.Column('org', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_notifications')),
    sa.UniqueConstraint('subject', 'org', 'channel', name='uq_alert_notifications_subject_org_channel')
    )
    op.create_table('alert_silences',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('rule', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_silences'))
    )
    with op.batch_alter_table('alert_silences', schema=None) as batch_op:
        batch_op.create_index('ix_alert_silences_rule_key', ['rule', 'key'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('alert_silences', schema=None) as batch_op:
        batch_op.drop_index('ix_alert_silences_rule_key')

    op.drop_table('alert_silences')
    op.drop_table('alert_notifications')
    with op.batch_alter_table('alert_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_events_episode_id'))

    op.drop_table('alert_events')
    with op.batch_alter_table('alert_episodes', schema=None) as batch_op:
        batch_op.drop_index('ix_alert_episodes_rule_key_state')

    op.drop_table('alert_episodes')
    with op.batch_alter_table('alert_episode_orgs', schema=None) as batch_op:
        batch_op.drop_index('ix_alert_episode_orgs_org')

    op.drop_table('alert_episode_orgs')
    op.drop_table('alert_contacts')
