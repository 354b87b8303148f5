"""The database: schema (models), sessions, Alembic migrations and the development seed."""
