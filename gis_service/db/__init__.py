"""Storage: engine and sessions, the relational model, and the Alembic-managed schema."""
