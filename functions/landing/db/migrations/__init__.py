"""Alembic migrations for the landing schema, shipped inside the package."""
