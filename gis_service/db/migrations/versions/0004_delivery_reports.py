"""delivery reports in their own table

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

An import of a province-scale zone set makes 10 000 deliveries; their reports are complete only
after the ratio check, when the rows already exist. Updating 10 000 rows then rewrote each row and
its index entries; a table of reports is instead filled by one COPY. Existing reports move over.
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('delivery_reports',
    sa.Column('delivery_id', sa.Integer(), nullable=False),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], ),
    sa.PrimaryKeyConstraint('delivery_id')
    )
    op.execute("INSERT INTO delivery_reports (delivery_id, report) SELECT id, report FROM deliveries")
    # SQLite (3.35+) drops a plain column in place; a batch copy of deliveries would trip the features' foreign keys.
    op.execute("ALTER TABLE deliveries DROP COLUMN report")


def downgrade() -> None:
    op.add_column('deliveries', sa.Column('report', sa.JSON(), nullable=False, server_default='{}'))
    op.execute("UPDATE deliveries SET report = (SELECT r.report FROM delivery_reports r WHERE r.delivery_id = deliveries.id)"
               " WHERE id IN (SELECT delivery_id FROM delivery_reports)")
    op.drop_table('delivery_reports')
