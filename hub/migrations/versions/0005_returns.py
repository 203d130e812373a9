"""returns: population reference, reminder contacts, reminders sent

Revision ID: 0005_returns
Revises: 0001_core
"""
import sqlalchemy as sa
from alembic import op

revision = "0005_returns"
down_revision = "0001_core"
branch_labels = ("returns",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "return_population",
        sa.Column("org", sa.String(length=64), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org", "year", name=op.f("pk_return_population")),
    )
    op.create_table(
        "return_contacts",
        sa.Column("org", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("webhook_url", sa.String(length=2000), nullable=True),
        sa.Column("webhook_secret", sa.String(length=200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org", name=op.f("pk_return_contacts")),
    )
    op.create_table(
        "return_reminders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dataset", sa.String(length=100), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("org", sa.String(length=64), nullable=False),
        sa.Column("offset_days", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("destination", sa.String(length=2000), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_return_reminders")),
        sa.UniqueConstraint("dataset", "period", "org", "offset_days", "channel", name="uq_return_reminders_once"),
    )


def downgrade() -> None:
    op.drop_table("return_reminders")
    op.drop_table("return_contacts")
    op.drop_table("return_population")
