"""returns: who changed which row of a draft, and submitters scoped to named returns

Revision ID: 0190_return_contributions
Revises: 0180_return_derivations
"""
import sqlalchemy as sa
from alembic import op

revision = "0190_return_contributions"
down_revision = "0180_return_derivations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "return_row_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("row_key", sa.String(length=200), nullable=False),
        sa.Column("change", sa.String(length=8), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("via", sa.String(length=8), nullable=False),
        sa.Column("changed_by", sa.String(length=200), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_return_row_changes")),
    )
    op.create_index(op.f("ix_return_row_changes_submission_id"), "return_row_changes", ["submission_id"])
    op.create_table(
        "return_submitter_scopes",
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assigned_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("username", "name", name=op.f("pk_return_submitter_scopes")),
    )


def downgrade() -> None:
    op.drop_table("return_submitter_scopes")
    op.drop_index(op.f("ix_return_row_changes_submission_id"), table_name="return_row_changes")
    op.drop_table("return_row_changes")
