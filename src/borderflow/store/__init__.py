"""Storage: SQLAlchemy tables, sessions, migrations and repositories."""
