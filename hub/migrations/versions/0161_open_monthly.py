"""open data: records per dataset, month and publisher, kept by the projector for each dataset page's chart

Revision ID: 0161_open_monthly
Revises: 0142_open_summary
"""
import sqlalchemy as sa
from alembic import op

revision = "0161_open_monthly"
down_revision = "0142_open_summary"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "open_monthly",
        sa.Column("dataset", sa.String(length=100), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("publisher", sa.String(length=64), nullable=False),
        sa.Column("records", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("dataset", "month", "publisher", name=op.f("pk_open_monthly")),
    )
    # Databases that already hold open records start from a rebuild, which fills the counts.
    op.execute("DELETE FROM open_state")


def downgrade() -> None:
    op.drop_table("open_monthly")
