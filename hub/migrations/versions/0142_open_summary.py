"""open data: each open dataset's record count and last change, kept by the projector

Revision ID: 0142_open_summary
Revises: 0141_open_alerts
"""
import sqlalchemy as sa
from alembic import op

revision = '0142_open_summary'
down_revision = '0141_open_alerts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('open_summary',
    sa.Column('dataset', sa.String(length=100), nullable=False),
    sa.Column('records', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('modified', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('dataset', name=op.f('pk_open_summary'))
    )
    # Databases that already hold open records start from a rebuild: forget the cursor.
    op.execute("DELETE FROM open_state")


def downgrade() -> None:
    op.drop_table('open_summary')
