"""records: ids unique per publisher; tombstones after the hub's retention period

A record id is the publisher's idempotency key (as CloudEvents makes `id` unique
per `source`), so two orgs may use the same id. `purged_at` marks a record whose
payload was removed after the hub's retention period (its digest stays).

Revision ID: 0011_records_publisher_ids
Revises: 0007_record_rejects
"""
import sqlalchemy as sa
from alembic import op

revision = '0011_records_publisher_ids'
down_revision = '0007_record_rejects'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_constraint('uq_records_id', type_='unique')
        # id first: lookups by id alone (provenance, dry runs) use the same index.
        batch_op.create_unique_constraint('uq_records_id_publisher', ['id', 'publisher'])
        batch_op.add_column(sa.Column('purged_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_column('purged_at')
        batch_op.drop_constraint('uq_records_id_publisher', type_='unique')
        batch_op.create_unique_constraint('uq_records_id', ['id'])
