"""PostGIS: features' delivery references checked once per statement instead of once per row

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

A foreign key checks each inserted row with its own lookup: for a province-scale zone set
(200 000 stretches in one COPY) that is a quarter of the server's work. On PostGIS the
``delivery_id`` foreign keys of the versioned feature tables are replaced by statement-level
triggers with the same guarantees, set-based:

- inserting or updating features: every ``delivery_id`` names an existing delivery, and those
  deliveries are locked ``FOR KEY SHARE`` as a foreign key locks them (so a concurrent delete waits);
- deleting deliveries (the service never does: versions are kept) is refused while features
  name them; a delivery's id never changes.

The error is PostgreSQL's ``foreign_key_violation`` (23503), as the foreign key raised.
SpatiaLite keeps its foreign keys (its inserts are not the bottleneck).
"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

FEATURE_TABLES = ("boundaries", "stakes", "zones")

REFS_EXIST = """
CREATE FUNCTION rivergis_delivery_refs_exist() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM deliveries d WHERE d.id IN (SELECT delivery_id FROM new_rows) FOR KEY SHARE OF d;
  IF EXISTS (SELECT 1 FROM new_rows n WHERE n.delivery_id IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = n.delivery_id)) THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME,
      MESSAGE = format('insert or update on table "%s" names a delivery that does not exist', TG_TABLE_NAME);
  END IF;
  RETURN NULL;
END $$
"""

UNREFERENCED = """
CREATE FUNCTION rivergis_deliveries_unreferenced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM old_rows o
             WHERE EXISTS (SELECT 1 FROM boundaries f WHERE f.delivery_id = o.id)
                OR EXISTS (SELECT 1 FROM stakes f WHERE f.delivery_id = o.id)
                OR EXISTS (SELECT 1 FROM zones f WHERE f.delivery_id = o.id)) THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', TABLE = 'deliveries',
      MESSAGE = 'deliveries named by features cannot be deleted';
  END IF;
  RETURN NULL;
END $$
"""

ID_FIXED = """
CREATE FUNCTION rivergis_delivery_id_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.id IS DISTINCT FROM OLD.id THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', TABLE = 'deliveries',
      MESSAGE = 'a delivery''s id cannot change';
  END IF;
  RETURN NEW;
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(REFS_EXIST)
    op.execute(UNREFERENCED)
    op.execute(ID_FIXED)
    for table in FEATURE_TABLES:
        op.drop_constraint(f"{table}_delivery_id_fkey", table, type_="foreignkey")
        # Transition tables allow one event per trigger: one for inserts (COPY included), one for updates.
        for event in ("INSERT", "UPDATE"):
            op.execute(f"CREATE TRIGGER {table}_delivery_ref_{event.lower()} AFTER {event} ON {table}"
                       " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT"
                       " EXECUTE FUNCTION rivergis_delivery_refs_exist()")
    op.execute("CREATE TRIGGER deliveries_unreferenced AFTER DELETE ON deliveries"
               " REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT"
               " EXECUTE FUNCTION rivergis_deliveries_unreferenced()")
    op.execute("CREATE TRIGGER deliveries_id_fixed BEFORE UPDATE OF id ON deliveries"
               " FOR EACH ROW EXECUTE FUNCTION rivergis_delivery_id_fixed()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER deliveries_id_fixed ON deliveries")
    op.execute("DROP TRIGGER deliveries_unreferenced ON deliveries")
    for table in FEATURE_TABLES:
        for event in ("insert", "update"):
            op.execute(f"DROP TRIGGER {table}_delivery_ref_{event} ON {table}")
        op.create_foreign_key(f"{table}_delivery_id_fkey", table, "deliveries", ["delivery_id"], ["id"])
    for function in ("rivergis_delivery_id_fixed", "rivergis_deliveries_unreferenced", "rivergis_delivery_refs_exist"):
        op.execute(f"DROP FUNCTION {function}()")
