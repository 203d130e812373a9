"""returns: each org's secret calendar-feed address (only a hash of its token is kept)

Revision ID: 0170_return_calendar_feeds
Revises: 0090_return_definitions
"""
import sqlalchemy as sa
from alembic import op

revision = "0170_return_calendar_feeds"
down_revision = "0090_return_definitions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "return_calendar_feeds",
        sa.Column("org", sa.String(length=64), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("org", name=op.f("pk_return_calendar_feeds")),
    )


def downgrade() -> None:
    op.drop_table("return_calendar_feeds")
