"""at most one approved version per river and layer

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

Two approvals of one river's zones at the same moment once left two versions approved, and every
reader then served both. A partial unique index makes the database refuse a second approved
version of a river's layer, whatever the code path. Rivers that already have several keep the
newest approved and the others become superseded, as an approval would have left them.
"""
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE deliveries SET status = 'superseded' WHERE status = 'approved' AND EXISTS ("
        "SELECT 1 FROM deliveries later WHERE later.river_code = deliveries.river_code "
        "AND later.layer = deliveries.layer AND later.status = 'approved' AND later.version > deliveries.version)"
    )
    # Both PostgreSQL and SQLite (3.8+) support partial indexes with this syntax.
    op.execute(
        "CREATE UNIQUE INDEX uq_delivery_one_approved ON deliveries (river_code, layer) WHERE status = 'approved'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX uq_delivery_one_approved")
