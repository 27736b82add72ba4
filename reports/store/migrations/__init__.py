"""Alembic migrations of the results store (``npubench.reports.store.migrate`` runs them)."""
