"""The versioned layers' features found by river through their deliveries: no river index of their own

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06

A feature of a versioned layer (zones, ranges, stakes) carries its delivery's river code, copied
when the delivery is stored; a read by river asks for the river's approved delivery, which the
deliveries' own index (``uq_delivery_one_approved``: river, layer, approved) finds, and then its
features by ``delivery_id`` (``store.current.CurrentFeatures.scope``). The features' own index on
``river_code`` served no read the delivery's does not, and it was the dearest of the zones' three
B-trees to keep: a text compared under the database's collation on each of an import's rows. A
200 000-stretch ``INSERT … SELECT`` into a copy of ``zones`` without its spatial index: 0.74–0.77 s
of server time with it, 0.56–0.58 s without (the heap alone 0.38 s). The import itself gains little,
its main thread being the longer part (``benchmarks/README.md``, tenth session). Downgrading builds
the indexes again.
"""
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

TABLES = ("zones", "boundaries", "stakes")


def upgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_river_code", table_name=table, if_exists=True)


def downgrade() -> None:
    for table in TABLES:
        op.create_index(f"ix_{table}_river_code", table, ["river_code"], unique=False, if_not_exists=True)
