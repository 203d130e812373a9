"""delivery attempts (what each receiver answered), receivers' replies on dead letters,
and subscriptions paused by hand

Revision ID: 0100_delivery_attempts
Revises: 0003_delivery
"""
import sqlalchemy as sa
from alembic import op

BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0100_delivery_attempts"
down_revision = "0003_delivery"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_attempts",
        sa.Column("id", BigInt, autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.String(36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(12), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("reply_headers", sa.Text(), nullable=True),
        sa.Column("reply_excerpt", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempts")),
    )
    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_delivery_attempts_subscription_at", ["subscription_id", "at"], unique=False)
        batch_op.create_index("ix_delivery_attempts_at", ["at"], unique=False)
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reply_headers", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("reply_excerpt", sa.Text(), nullable=True))
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("paused_by", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("paused_by")
        batch_op.drop_column("paused_at")
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.drop_column("reply_excerpt")
        batch_op.drop_column("reply_headers")
    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_attempts_at")
        batch_op.drop_index("ix_delivery_attempts_subscription_at")
    op.drop_table("delivery_attempts")
