"""What the data API and the sandbox keep between requests (a product file's bounded database, its
schema and row count; the sandbox's database and column profile) is let go when the data changes,
keeps its limits, and never outlives the contract: an ended contract is refused at once with every
cache warm."""

from __future__ import annotations

from pathlib import Path

import duckdb
import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core.analytics import Limits
from qianshu.core.blobs import open_blob_store
from qianshu.core.errors import QueryTimedOut
from qianshu.core.settings import Settings
from qianshu.delivery import product_files
from qianshu.delivery.models import ApiCounter, SandboxQuery
from qianshu.exchange import changes as exchange_changes
from qianshu.exchange.schemas import ChangeIn
from qianshu.registry.models import Registration
from tests.delivery.delivery_support import Setup, bearer, make_setup
from tests.delivery.sandbox_data import people_table

LIMITS = Limits(memory_limit="256MB", threads=1, query_seconds=30)


@pytest.fixture
def setup(db: Session, settings: Settings, tmp_path: Path) -> Setup:
    return make_setup(db, settings, tmp_path)


def _page(client: TestClient, key: str, **params: object) -> httpx.Response:
    return client.get("/api/v1/delivery/data/rows", params={"limit": 5, **params}, headers={"X-API-Key": key})


def test_a_file_is_opened_once_and_again_when_it_is_written_again(tmp_path: Path) -> None:
    path = tmp_path / "product.parquet"
    pq.write_table(pa.table({"a": [1, 2, 3]}), path)
    first = product_files.product_file(path, LIMITS)
    assert product_files.product_file(path, LIMITS) is first
    assert (first.num_rows, first.schema.names) == (3, ["a"])
    assert product_files.product_file(path, Limits("128MB", 1, 30)) is not first  # other limits, its own
    pq.write_table(pa.table({"a": [1, 2, 3, 4], "b": ["x", "y", "z", "w"]}), path)
    again = product_files.product_file(path, LIMITS)
    assert again is not first
    assert (again.num_rows, again.schema.names) == (4, ["a", "b"])
    cursor = again.connection.cursor(30)
    try:
        assert cursor.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchone() == (4,)
        # The kept database reads its file and nothing else, and its settings stay locked.
        other = tmp_path / "other.parquet"
        pq.write_table(pa.table({"secret": [7]}), other)
        with pytest.raises(duckdb.PermissionException):
            cursor.execute(f"SELECT * FROM read_parquet('{other}')").fetchall()
        with pytest.raises(duckdb.Error):
            cursor.execute("SET enable_external_access = true")
    finally:
        cursor.close()


def test_a_cursor_of_the_kept_database_keeps_the_time_limit(tmp_path: Path) -> None:
    path = tmp_path / "product.parquet"
    pq.write_table(pa.table({"a": [1]}), path)
    cursor = product_files.product_file(path, LIMITS).connection.cursor(0.3)
    try:
        with pytest.raises(QueryTimedOut):
            cursor.execute("SELECT count(*) FROM range(100000000000) a, range(1000) b").fetchall()
    finally:
        cursor.close()


def _give_new_data(db: Session, settings: Settings, setup: Setup, tmp_path: Path, rows: int) -> None:
    fresh = tmp_path / "fresh.parquet"
    pq.write_table(people_table(rows, seed=11), fresh)
    digest, size = open_blob_store(settings).put_file(fresh)
    registration = db.get(Registration, setup.listing.registration_id)
    assert registration is not None
    registration.parquet_sha256, registration.parquet_size = digest, size
    db.flush()


def test_the_data_api_serves_new_data_and_refuses_an_ended_contract_with_warm_caches(
        client: TestClient, db: Session, settings: Settings, setup: Setup, tmp_path: Path) -> None:
    key = client.post(f"/api/v1/delivery/contracts/{setup.api_contract.id}/api-key",
                      headers=bearer(setup.buyer_token)).json()["key"]
    filters = {"filter": "row_no:ge:1995", "columns": "row_no"}
    first = _page(client, key, **filters)
    assert first.status_code == 200, first.text
    assert [r[0] for r in first.json()["rows"]] == [1995, 1996, 1997, 1998, 1999]
    # The product gets a new data file: the next page reads it, not the kept database of the old one.
    _give_new_data(db, settings, setup, tmp_path, rows=2100)
    assert [r[0] for r in _page(client, key, **filters).json()["rows"]] == [1995, 1996, 1997, 1998, 1999]
    assert [r[0] for r in _page(client, key, filter="row_no:ge:2095", columns="row_no").json()["rows"]] == [
        2095, 2096, 2097, 2098, 2099]
    calls = db.scalar(select(ApiCounter.calls).where(ApiCounter.scope == f"contract:{setup.api_contract.id}"))
    # The contract ends: refused at once, with the file's database, plan and schema all kept.
    exchange_changes.operate(db, setup.operator, setup.api_contract.id, ChangeIn(kind="terminate", reason="违约终止"))
    db.flush()
    refused = _page(client, key, **filters)
    assert refused.status_code == 403
    assert refused.json()["code"] == "contract_not_active"
    db.expire_all()
    assert db.scalar(select(ApiCounter.calls).where(ApiCounter.scope == f"contract:{setup.api_contract.id}")) == calls


def test_the_sandbox_answers_new_data_and_refuses_an_ended_contract_with_a_warm_database(
        client: TestClient, db: Session, settings: Settings, setup: Setup, tmp_path: Path) -> None:
    ask = f"/api/v1/delivery/contracts/{setup.sandbox_contract.id}/sandbox/queries"
    body = client.post(ask, json={"sql": "SELECT count(*) FROM data"}, headers=bearer(setup.buyer_token)).json()
    assert body["rows"] == [[2000]]
    _give_new_data(db, settings, setup, tmp_path, rows=2100)
    body = client.post(ask, json={"sql": "SELECT count(*) FROM data"}, headers=bearer(setup.buyer_token)).json()
    assert body["rows"] == [[2100]]
    exchange_changes.operate(db, setup.operator, setup.sandbox_contract.id,
                             ChangeIn(kind="terminate", reason="违约终止"))
    db.flush()
    refused = client.post(ask, json={"sql": "SELECT count(*) FROM data"}, headers=bearer(setup.buyer_token))
    assert refused.status_code == 403
    assert refused.json()["code"] == "contract_not_active"
    outcomes = db.scalars(select(SandboxQuery.outcome).where(SandboxQuery.contract_id == setup.sandbox_contract.id)
                          .order_by(SandboxQuery.id)).all()
    assert outcomes == ["answered", "answered", "refused"]
