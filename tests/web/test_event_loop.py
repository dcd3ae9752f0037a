"""No database call runs on the event loop: the engines refuse one, so a slip fails every test."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from qianshu.core.db import Database, DatabaseCallOnEventLoop


def test_a_statement_from_the_event_loop_is_refused(shared_database: Database) -> None:
    async def on_the_loop() -> None:
        with shared_database.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    with pytest.raises(DatabaseCallOnEventLoop):
        asyncio.run(on_the_loop())


def test_a_statement_from_a_worker_thread_of_the_loop_runs(shared_database: Database) -> None:
    def query() -> int:
        with shared_database.engine.connect() as conn:
            return int(conn.execute(text("SELECT 1")).scalar_one())

    async def from_a_thread() -> int:
        return await asyncio.to_thread(query)

    assert asyncio.run(from_a_thread()) == 1
