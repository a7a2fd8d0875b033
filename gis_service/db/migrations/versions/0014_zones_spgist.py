"""PostGIS: the zones' spatial index as SP-GiST

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05

A zone-set delivery is the bulk write of the service (a province's 200 000 stretches in one
import), and the zones' GiST index was the largest part of the server's work storing it: each row's
insertion picks a subtree by penalty and splits pages by PostGIS's own rules. An SP-GiST index (a
quad-tree over the boxes, ``spgist_geometry_ops_2d``) inserts without either: the 200 000 rows'
``INSERT … SELECT`` takes 1.13–1.16 s of server time instead of 1.40–1.45 s, and the index is about
the same size (9.3 MB against 8.1 MB). It answers the same operators the service reads zones by
(``&&`` and the ``ST_Intersects`` family's index filter) as fast: 300 random boxes of 0.01° to 1°
over the province's zones, 0.13–11 ms a query either way. It has no k-nearest-neighbour ordering
(``<->``), which nothing asks of zones. SpatiaLite keeps its R*Tree.
"""
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

INDEX = 'idx_zones_geom'


def _index(method: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {INDEX}")
        op.execute(f"CREATE INDEX {INDEX} ON zones USING {method} (geom)")


def upgrade() -> None:
    _index("spgist")


def downgrade() -> None:
    _index("gist")
