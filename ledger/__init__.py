"""The ledger: SQLAlchemy 2 schema and queries (orders, fills, positions, activity, alerts, gate)."""
