"""returns: returns drafted as data (definitions, immutable versions), row sets and their sign-off

Revision ID: 0090_return_definitions
Revises: 0005_returns
"""
import sqlalchemy as sa
from alembic import op

revision = "0090_return_definitions"
down_revision = "0005_returns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "return_definitions",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("owner_org", sa.String(length=64), nullable=False),
        sa.Column("introduced", sa.String(length=10), nullable=False),
        sa.Column("reviewed", sa.String(length=10), nullable=True),
        sa.Column("retired", sa.String(length=10), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_return_definitions")),
    )
    op.create_table(
        "return_versions",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("applies_from", sa.String(length=20), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("drafted_by", sa.String(length=200), nullable=False),
        sa.Column("drafted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(length=200), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", "version", name=op.f("pk_return_versions")),
    )
    op.create_table(
        "return_submissions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("org", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("first_submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_by", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_by", sa.String(length=200), nullable=False),
        sa.Column("first_approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_return_submissions")),
        sa.UniqueConstraint("name", "period", "org", name="uq_return_submissions_one"),
    )
    op.create_table(
        "return_rows",
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("row_key", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("submission_id", "row_key", name=op.f("pk_return_rows")),
    )

    op.create_table(
        "return_auto_approve",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("org", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("name", "org", name=op.f("pk_return_auto_approve")),
    )


def downgrade() -> None:
    op.drop_table("return_auto_approve")
    op.drop_table("return_rows")
    op.drop_table("return_submissions")
    op.drop_table("return_versions")
    op.drop_table("return_definitions")
