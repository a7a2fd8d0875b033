"""tokens: last use and optional expiry

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05

An office must see which tokens are still in use and let a contractor's token lapse on its own:
``last_used_at`` is kept (at most every few minutes) by the request that used it, ``expires_at``
is set at creation (``rivergis token create --expires-days N``); NULL never expires.
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN on both backends: nullable columns need no table copy on SQLite.
    op.add_column('tokens', sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('tokens', sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # SQLite (3.35+) drops a plain column in place, as in 0004.
    op.execute("ALTER TABLE tokens DROP COLUMN expires_at")
    op.execute("ALTER TABLE tokens DROP COLUMN last_used_at")
