"""Database: the engine and sessionmaker, units of work, wire-level tuning, credentials, the data contract, migrations."""
