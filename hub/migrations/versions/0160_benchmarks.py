"""benchmarks: family groups of councils, indicators defined by a return's owner, who sees named figures

Revision ID: 0160_benchmarks
Revises: 0001_core
"""
import sqlalchemy as sa
from alembic import op

revision = "0160_benchmarks"
down_revision = "0001_core"
branch_labels = ("benchmarks",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "benchmark_groups",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("basis", sa.String(length=200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_benchmark_groups")),
    )
    op.create_table(
        "benchmark_group_members",
        sa.Column("group_name", sa.String(length=64), nullable=False),
        sa.Column("org", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("group_name", "org", name=op.f("pk_benchmark_group_members")),
    )
    op.create_table(
        "benchmark_indicators",
        sa.Column("dataset", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("numerator", sa.Text(), nullable=False),
        sa.Column("denominator", sa.Text(), nullable=False),
        sa.Column("per", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=100), nullable=False),
        sa.Column("higher_is_better", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("dataset", "name", name=op.f("pk_benchmark_indicators")),
    )
    op.create_table(
        "benchmark_settings",
        sa.Column("dataset", sa.String(length=100), nullable=False),
        sa.Column("named_figures", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("dataset", name=op.f("pk_benchmark_settings")),
    )


def downgrade() -> None:
    for table in ("benchmark_settings", "benchmark_indicators", "benchmark_group_members", "benchmark_groups"):
        op.drop_table(table)
