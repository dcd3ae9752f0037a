"""No database call runs on the event loop: the engines refuse one, so a slip fails every test."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import Request
from sqlalchemy import text

from qianshu.core.db import Database, DatabaseCallOnEventLoop, serve_requests_on_this_loop
from tests.async_support import run_async


def test_a_statement_from_the_event_loop_is_refused(shared_database: Database) -> None:
    async def on_the_loop() -> None:
        serve_requests_on_this_loop()
        with shared_database.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    with pytest.raises(DatabaseCallOnEventLoop):
        run_async(on_the_loop)


def test_a_statement_from_a_worker_thread_of_the_loop_runs(shared_database: Database) -> None:
    def query() -> int:
        with shared_database.engine.connect() as conn:
            return int(conn.execute(text("SELECT 1")).scalar_one())

    async def from_a_thread() -> int:
        serve_requests_on_this_loop()
        return await asyncio.to_thread(query)

    assert run_async(from_a_thread) == 1


def test_another_event_loop_may_run_statements(shared_database: Database) -> None:
    """A loop that serves no requests (Playwright's sync API runs one on the test's thread)."""
    async def elsewhere() -> int:
        with shared_database.engine.connect() as conn:
            return int(conn.execute(text("SELECT 1")).scalar_one())

    assert run_async(elsewhere) == 1


def test_the_app_refuses_a_route_that_queries_on_the_loop(app, client) -> None:  # type: ignore[no-untyped-def]
    from qianshu.core.http import get_database

    @app.get("/api/v1/test-on-the-loop")
    async def on_the_loop(request: Request) -> dict[str, int]:
        with get_database(request).unit_of_work(write=False) as db:
            return {"one": int(db.execute(text("SELECT 1")).scalar_one())}

    with pytest.raises(DatabaseCallOnEventLoop):  # the test client re-raises what the server logs
        client.get("/api/v1/test-on-the-loop")
