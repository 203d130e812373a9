"""returns: returns derived from records a council already publishes (computed drafts and their lineage)

Revision ID: 0180_return_derivations
Revises: 0170_return_calendar_feeds
"""
import sqlalchemy as sa
from alembic import op

revision = "0180_return_derivations"
down_revision = "0170_return_calendar_feeds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "return_derivations",
        sa.Column("submission_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("source_dataset", sa.String(length=100), nullable=False),
        sa.Column("source_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("checked_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("records_read", sa.Integer(), nullable=False),
        sa.Column("applied_revision", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("computed_by", sa.String(length=200), nullable=False),
        sa.Column("basis", sa.Text(), nullable=False),
        sa.Column("newer", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("submission_id", name=op.f("pk_return_derivations")),
    )


def downgrade() -> None:
    op.drop_table("return_derivations")
