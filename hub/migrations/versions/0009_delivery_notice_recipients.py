"""notice recipients: whom each hub notice in the record log is addressed to

Revision ID: 0009_delivery_notice_recipients
Revises: 0002_policy
"""
import json

import sqlalchemy as sa
from alembic import op

BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = '0009_delivery_notice_recipients'
down_revision = '0002_policy'
branch_labels = ("notices",)
depends_on = None


def upgrade() -> None:
    table = op.create_table('notice_recipients',
    sa.Column('seq', BigInt, autoincrement=False, nullable=False),
    sa.Column('recipient', sa.String(length=64), nullable=False),
    sa.Column('dataset', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_notice_recipients'))
    )
    with op.batch_alter_table('notice_recipients', schema=None) as batch_op:
        batch_op.create_index('ix_notice_recipients_recipient_dataset_seq', ['recipient', 'dataset', 'seq'],
                              unique=False)
    # Notices already in the log.
    conn = op.get_bind()
    found = conn.execute(sa.text("SELECT seq, payload FROM records WHERE dataset = 'causeway.notice'")).all()
    rows = []
    for seq, payload in found:
        notice = json.loads(payload or "{}")
        if notice.get("recipient") and notice.get("dataset"):
            rows.append({"seq": seq, "recipient": notice["recipient"], "dataset": notice["dataset"]})
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    with op.batch_alter_table('notice_recipients', schema=None) as batch_op:
        batch_op.drop_index('ix_notice_recipients_recipient_dataset_seq')
    op.drop_table('notice_recipients')
