"""Alembic environment: one metadata for every capability, batch mode for SQLite."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from qianshu.core.db import make_engine
from qianshu.models import Base

config = context.config
target_metadata = Base.metadata
# Database objects made by hand in migrations (op.execute) that autogenerate must not compare:
# full-text indexes (SQLite FTS5 tables and their shadow tables, PostgreSQL GIN expression
# indexes). Their names start with one of these prefixes.
UNMANAGED_PREFIXES = ("catalog_fts",)


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    return not (type_ in ("table", "index") and name is not None and name.startswith(UNMANAGED_PREFIXES))


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url") or ""
    engine = make_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch mode changes a column by copying the table and dropping the old one. With
            # foreign keys on, that drop deletes the rows of other tables that refer to it (ON
            # DELETE CASCADE: a contract's signatures, timeline ...) or is refused (RESTRICT); so
            # they are off while migrating (outside any transaction, where the pragma works) and
            # every reference is checked before the commit instead (migration 0035 needs it).
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]  # a live connection has one
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=sqlite, compare_type=True, include_name=include_name)
        with context.begin_transaction():
            context.run_migrations()
            if sqlite and (broken := connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()):
                raise RuntimeError(f"migrating broke references between tables: {broken[:10]}")
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
