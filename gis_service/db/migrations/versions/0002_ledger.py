"""ledger: rectified date on problems, outfall events (一口一档)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch copy): SQLite supports it, and copying the spatial table would
    # drop its SpatiaLite geometry registration.
    op.add_column('problems', sa.Column('rectified_date', sa.Date(), nullable=True))
    op.create_table('outfall_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('outfall_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['outfall_id'], ['outfalls.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_outfall_events_outfall_id', 'outfall_events', ['outfall_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_outfall_events_outfall_id', table_name='outfall_events')
    op.drop_table('outfall_events')
    op.drop_column('problems', 'rectified_date')
