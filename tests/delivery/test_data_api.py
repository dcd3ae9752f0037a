"""The data API end to end: keys, columns and filters, signed cursors, watermarks, quotas and the
rate limit (under concurrent requests over real HTTP), and metering into the exchange's billing."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core.audit import AuditEvent
from qianshu.core.db import Database
from qianshu.core.errors import Conflict, PermissionDenied
from qianshu.core.settings import Settings
from qianshu.core.timeutil import utcnow
from qianshu.delivery import data_api
from qianshu.delivery.models import ApiCounter, ApiKey, ApiMeter
from qianshu.delivery.settings import DeliverySettings
from qianshu.exchange import changes as exchange_changes
from qianshu.exchange.models import UsageReport
from qianshu.exchange.schemas import ChangeIn
from qianshu.web.app import create_app
from tests.delivery.delivery_support import Setup, bearer, make_setup
from tests.web.live import live_server


@pytest.fixture
def setup(db: Session, settings: Settings, tmp_path: Path) -> Setup:
    return make_setup(db, settings, tmp_path)


def _key(client: TestClient, s: Setup, contract_id: int | None = None) -> str:
    r = client.post(f"/api/v1/delivery/contracts/{contract_id or s.api_contract.id}/api-key",
                    headers=bearer(s.buyer_token))
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


def test_a_key_is_shown_once_hashed_at_rest_rotated_and_revoked(client: TestClient, db: Session, setup: Setup) -> None:
    first = _key(client, setup)
    stored = db.scalars(select(ApiKey)).all()
    assert len(stored) == 1
    assert first not in (stored[0].key_hash, stored[0].prefix)
    assert client.get("/api/v1/delivery/data/rows", headers={"X-API-Key": first}).status_code == 200
    second = _key(client, setup)
    assert client.get("/api/v1/delivery/data/rows", headers={"X-API-Key": first}).status_code == 401
    assert client.get("/api/v1/delivery/data/rows", headers={"X-API-Key": second}).status_code == 200
    assert client.delete(f"/api/v1/delivery/contracts/{setup.api_contract.id}/api-key",
                         headers=bearer(setup.buyer_token)).status_code == 204
    assert client.get("/api/v1/delivery/data/rows", headers={"X-API-Key": second}).status_code == 401
    assert client.get("/api/v1/delivery/data/rows").status_code == 401
    # Only the buyer gets a key, and only for an API contract.
    assert client.post(f"/api/v1/delivery/contracts/{setup.api_contract.id}/api-key",
                       headers=bearer(setup.merchant_token)).status_code == 403
    assert client.post(f"/api/v1/delivery/contracts/{setup.api_contract.id}/api-key",
                       headers=bearer(setup.other_token)).status_code == 404
    assert client.post(f"/api/v1/delivery/contracts/{setup.sandbox_contract.id}/api-key",
                       headers=bearer(setup.buyer_token)).status_code == 409
    actions = [e.action for e in db.scalars(select(AuditEvent).where(AuditEvent.action.like("data_api.%")))]
    assert actions == ["data_api.key_issued", "data_api.key_issued", "data_api.key_revoked"]


def test_the_key_dies_with_the_contract(client: TestClient, db: Session, setup: Setup) -> None:
    key = _key(client, setup)
    exchange_changes.operate(db, setup.operator, setup.api_contract.id, ChangeIn(kind="terminate", reason="违约终止"))
    db.flush()
    r = client.get("/api/v1/delivery/data/rows", headers={"X-API-Key": key})
    assert r.status_code == 403
    assert r.json()["code"] == "contract_not_active"
    with pytest.raises(Conflict):
        data_api.issue_key(db, setup.buyer, setup.api_contract.id)
    with pytest.raises(PermissionDenied):
        data_api.issue_key(db, setup.merchant, setup.api_contract.id)


def test_columns_filters_and_cursor_pages(client: TestClient, setup: Setup) -> None:
    key = _key(client, setup)
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"columns": "row_no,county,age", "filter": ["county:eq:南明区", "age:ge:30"],
                                  "limit": 50}
        if cursor:
            params["cursor"] = cursor
        r = client.get("/api/v1/delivery/data/rows", params=params, headers={"X-API-Key": key})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["columns"] == ["row_no", "county", "age"]
        assert body["contract"] == setup.api_contract.number
        # A text cell may carry its mark as trailing white space (watermark.py).
        assert all(row[1].strip() == "南明区" and row[2] >= 30 for row in body["rows"]), body["rows"][:20]
        seen += [row[0] for row in body["rows"]]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert pages > 2
    assert seen == sorted(set(seen))
    import pyarrow.compute as pc

    from tests.delivery.sandbox_data import people_table

    table = people_table(2000)
    expected = table.filter(pc.and_(pc.equal(table["county"], "南明区"), pc.greater_equal(table["age"], 30)))
    assert seen == expected["row_no"].to_pylist()


def test_rows_carry_the_contracts_watermark(client: TestClient, setup: Setup) -> None:
    key = _key(client, setup)
    body = client.get("/api/v1/delivery/data/rows", params={"limit": 1000}, headers={"X-API-Key": key}).json()
    assert body["watermarked"] is True
    from tests.delivery.sandbox_data import people_table

    original = people_table(2000).slice(0, 1000).to_pylist()
    at = body["columns"].index("income")
    changed = sum(1 for row, orig in zip(body["rows"], original, strict=True) if row[at] != orig["income"])
    assert 0 < changed < 500  # about one row in gamma carries a mark in each marked column


@pytest.mark.parametrize(("params", "field"), [
    ({"columns": "nope"}, "columns"),
    ({"columns": 'row_no" FROM x; --'}, "columns"),
    ({"filter": "age:ge:thirty"}, "filter"),
    ({"filter": "age:like:3"}, "filter"),
    ({"filter": "nope:eq:1"}, "filter"),
    ({"filter": "age"}, "filter"),
    ({"filter": "age:prefix:3"}, "filter"),
    ({"limit": 0}, "limit"),
    ({"cursor": "eyJjIjoxfQ.forged"}, "cursor"),
])
def test_bad_questions_are_refused_naming_the_field(client: TestClient, setup: Setup, params: dict[str, Any],
                                                    field: str) -> None:
    key = _key(client, setup)
    r = client.get("/api/v1/delivery/data/rows", params=params, headers={"X-API-Key": key})
    assert r.status_code == 422, r.text
    assert field in r.text


def test_a_value_is_a_value_not_sql(client: TestClient, setup: Setup) -> None:
    key = _key(client, setup)
    for text in ["name:eq:x' OR 1=1 --", "county:in:南明区') OR (1=1", "name:prefix:%"]:
        r = client.get("/api/v1/delivery/data/rows", params={"filter": text}, headers={"X-API-Key": key})
        assert r.status_code == 200, text
        assert r.json()["rows"] == [], text


def test_a_cursor_of_another_question_or_contract_is_refused(client: TestClient, setup: Setup) -> None:
    key = _key(client, setup)
    body = client.get("/api/v1/delivery/data/rows", params={"limit": 10}, headers={"X-API-Key": key}).json()
    r = client.get("/api/v1/delivery/data/rows", params={"limit": 10, "cursor": body["next_cursor"],
                                                           "filter": "age:gt:1"}, headers={"X-API-Key": key})
    assert r.status_code == 422
    other = _key(client, setup, setup.rows_contract.id)
    r = client.get("/api/v1/delivery/data/rows", params={"limit": 10, "cursor": body["next_cursor"]},
                   headers={"X-API-Key": other})
    assert r.status_code == 422


def test_usage_is_metered_and_billed_once_per_report(client: TestClient, db: Session, settings: Settings,
                                                     setup: Setup) -> None:
    calls_key = _key(client, setup)
    rows_key = _key(client, setup, setup.rows_contract.id)
    for _ in range(3):
        assert client.get("/api/v1/delivery/data/rows", params={"limit": 10},
                          headers={"X-API-Key": calls_key}).status_code == 200
    assert client.get("/api/v1/delivery/data/rows", params={"limit": 700},
                      headers={"X-API-Key": rows_key}).status_code == 200
    section = settings.section(DeliverySettings)
    assert data_api.report_usage(db, section) == 0  # the interval is still open
    later = utcnow() + timedelta(seconds=section.api_meter_seconds + section.api_meter_grace_seconds + 1)
    assert data_api.report_usage(db, section, now=later) == 2
    assert data_api.report_usage(db, section, now=later) == 0  # each interval once
    # The rate limit's old minute counters are cleared by the same job.
    minutes = select(ApiCounter).where(ApiCounter.window == "minute")
    assert db.scalars(minutes).all() == []  # ``later`` is more than an hour after them
    reports = {r.contract_id: r for r in db.scalars(select(UsageReport))}
    assert reports[setup.api_contract.id].units == 3
    assert reports[setup.api_contract.id].amount_fen == 15
    assert reports[setup.rows_contract.id].units == 700
    assert reports[setup.rows_contract.id].amount_fen == 140
    # A crash between billing and marking: the job runs again with the same report id, bills nothing more.
    meter = db.scalars(select(ApiMeter).where(ApiMeter.contract_id == setup.api_contract.id)).one()
    meter.reported_at = None
    db.flush()
    assert data_api.report_usage(db, section, now=later) == 1
    assert db.scalars(select(UsageReport).where(UsageReport.contract_id == setup.api_contract.id)).all() == [
        reports[setup.api_contract.id]]
    audited = db.scalars(select(AuditEvent).where(AuditEvent.action == "data_api.usage")).all()
    assert {e.target_id for e in audited} == {str(setup.api_contract.id), str(setup.rows_contract.id)}


# -- concurrency over real HTTP -----------------------------------------------------------------------


@pytest.fixture
def served(isolated_database: Database, tmp_path: Path) -> Iterator[tuple[str, Database, Setup, Settings]]:
    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=isolated_database.url,
                        secret_key="test-secret-" + "x" * 32, run_jobs_in_process=False,
                        sections={"delivery": {"api_rate_per_minute": 12, "api_calls_per_period": 1000,
                                               "api_rows_per_period": 95}})
    with isolated_database.unit_of_work() as db:
        setup = make_setup(db, settings, tmp_path, rows=500)
    app = create_app(settings, database=isolated_database)
    with live_server(app) as url:
        yield url, isolated_database, setup, settings


def _hammer(url: str, key: str, n: int, threads: int, params: dict[str, Any]) -> Counter[int]:
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker(count: int) -> None:
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=60) as client:
            barrier.wait()
            for _ in range(count):
                status = client.get("/api/v1/delivery/data/rows", params=params).status_code
                with lock:
                    statuses[status] += 1

    workers = [threading.Thread(target=worker, args=(n // threads,)) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return statuses


@pytest.mark.slow
def test_rate_limit_and_quota_hold_under_concurrent_requests(
        served: tuple[str, Database, Setup, Settings]) -> None:
    url, database, setup, _settings = served
    with httpx.Client(base_url=url, headers=bearer(setup.buyer_token), timeout=60) as client:
        calls_key = client.post(f"/api/v1/delivery/contracts/{setup.api_contract.id}/api-key").json()["key"]
        rows_key = client.post(f"/api/v1/delivery/contracts/{setup.rows_contract.id}/api-key").json()["key"]
    # 40 calls from 8 threads at once against a limit of 12 in any 60 seconds (a sliding window:
    # the minute's turn during the burst lets no more through): exactly 12 pass.
    statuses = _hammer(url, calls_key, 40, 8, {"limit": 1})
    assert statuses[200] + statuses[429] == 40, statuses
    assert statuses[200] == 12, statuses
    # The quota of 95 rows: pages of 10 from 8 threads; the rows delivered never pass it.
    statuses = _hammer(url, rows_key, 12, 6, {"limit": 10})
    assert statuses[200] + statuses[429] == 12, statuses
    with database.unit_of_work(write=False) as db:
        meter = db.scalars(select(ApiMeter).where(ApiMeter.contract_id == setup.rows_contract.id)).all()
        delivered = sum(m.rows for m in meter)
        assert delivered == 95, delivered  # 9 pages of 10 and one of the last 5
        # Each admitted call metered once (one upsert per call into the key's interval).
        metered = db.scalars(select(ApiMeter).where(ApiMeter.contract_id == setup.api_contract.id)).all()
        assert sum(m.calls for m in metered) == 12
