"""Development-only helpers (embedded Postgres, moto server, demo); never on a handler's import path."""
