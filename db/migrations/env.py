"""Alembic environment: migrations run against the URL set by db.session.migrate or DATABASE_URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from core.config import get_settings
from db.models import Base
from db.session import _normalise

config = context.config
url = config.get_main_option("sqlalchemy.url") or _normalise(get_settings().database_url)
config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))

connectable = engine_from_config(
    config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
)
with connectable.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
