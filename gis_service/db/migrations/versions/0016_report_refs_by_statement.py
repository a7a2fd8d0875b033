"""PostGIS: the delivery reports' delivery reference checked once per statement, as the features' are

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07

An import of a province's zone set ends by copying its 10 000 deliveries' reports, and the server's
work there is the import's last step, with nothing left to overlap it: the foreign key's lookup a row
was 0.11 s of it (10 000 reports of 1.2 KB, ``INSERT … SELECT`` into a copy of the table: 0.27–0.29 s
with the foreign key, 0.16–0.17 s without; ``benchmarks/README.md``, sixteenth session). As migration
0003 did for the features, the foreign key is replaced on PostGIS by statement-level triggers with the
same guarantees (``rivergis_delivery_refs_exist``: every ``delivery_id`` names an existing delivery,
those deliveries locked ``FOR KEY SHARE``), and a delivery a report names cannot be deleted. The
error is PostgreSQL's ``foreign_key_violation`` (23503), as the foreign key raised. SpatiaLite keeps
its foreign key.
"""
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

def unreferenced(tables: tuple[str, ...], named_by: str) -> str:
    """Return the deletion guard of ``deliveries``: refused while a row of ``tables`` names a deleted one."""
    named = "\n                OR ".join(f"EXISTS (SELECT 1 FROM {t} f WHERE f.delivery_id = o.id)" for t in tables)
    return f"""
CREATE OR REPLACE FUNCTION rivergis_deliveries_unreferenced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM old_rows o
             WHERE {named}) THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', TABLE = 'deliveries',
      MESSAGE = 'deliveries named by {named_by} cannot be deleted';
  END IF;
  RETURN NULL;
END $$
"""


FEATURES = ("boundaries", "stakes", "zones")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(unreferenced((*FEATURES, "delivery_reports"), "features or reports"))
    op.drop_constraint("delivery_reports_delivery_id_fkey", "delivery_reports", type_="foreignkey")
    # Transition tables allow one event per trigger: one for inserts (COPY included), one for updates.
    for event in ("INSERT", "UPDATE"):
        op.execute(f"CREATE TRIGGER delivery_reports_delivery_ref_{event.lower()} AFTER {event} ON delivery_reports"
                   " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT"
                   " EXECUTE FUNCTION rivergis_delivery_refs_exist()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER delivery_reports_delivery_ref_{event} ON delivery_reports")
    op.create_foreign_key("delivery_reports_delivery_id_fkey", "delivery_reports", "deliveries", ["delivery_id"], ["id"])
    op.execute(unreferenced(FEATURES, "features"))
