"""Migrations go down and up again, and the models still agree with them afterwards."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from qianshu.core.db import Database
from qianshu.core.migrate import alembic_config, check, upgrade


def test_the_search_index_migration_goes_down_and_up(isolated_database: Database) -> None:
    url = isolated_database.url
    command.downgrade(alembic_config(url), "0004_catalog")
    engine = isolated_database.engine
    sqlite = engine.dialect.name == "sqlite"
    columns = {c["name"] for c in inspect(engine).get_columns("catalog_listings")}
    assert "counters_at" not in columns
    with engine.connect() as conn:
        if sqlite:
            assert conn.exec_driver_sql("SELECT count(*) FROM catalog_fts").scalar() == 0
        else:
            assert conn.exec_driver_sql("SELECT count(*) FROM pg_indexes WHERE indexname = 'catalog_fts_gin'").scalar()
    engine.dispose()
    upgrade(url)
    check(url)
    assert "counters_at" in {c["name"] for c in inspect(engine).get_columns("catalog_listings")}
