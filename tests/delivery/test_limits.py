"""The data API's limits per contract: set by the seller within the operator's maxima, shown to
both parties, and held as a sliding window (no burst of twice the limit across a minute's turn),
also under concurrent requests over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.core.audit import AuditEvent
from qianshu.core.db import Database
from qianshu.core.errors import TooManyRequests
from qianshu.core.settings import Settings
from qianshu.delivery import data_api, limits
from qianshu.delivery.models import ApiCall, ApiMeter
from qianshu.delivery.settings import DeliverySettings
from qianshu.web.app import create_app
from tests.delivery.delivery_support import Setup, bearer, make_setup
from tests.delivery.test_data_api import _hammer
from tests.web.live import live_server

LIMITS = "/api/v1/delivery/contracts/{id}/limits"


@pytest.fixture
def setup(db: Session, settings: Settings, tmp_path: Path) -> Setup:
    return make_setup(db, settings, tmp_path)


def _limits(**changes: object) -> dict[str, object]:
    return {"rate_per_minute": 30, "quota_period": "month", "calls_per_period": 500, "rows_per_period": 5000,
            **changes}


def test_the_seller_sets_a_contracts_limits_within_the_operators_maxima(client: TestClient, db: Session,
                                                                         setup: Setup) -> None:
    path = LIMITS.format(id=setup.api_contract.id)
    before = client.get(path, headers=bearer(setup.buyer_token))
    assert before.status_code == 200
    assert before.json()["set_by_seller"] is False
    assert before.json()["rate_per_minute"] == DeliverySettings().api_rate_per_minute
    assert client.put(path, json=_limits(), headers=bearer(setup.buyer_token)).status_code == 403  # the buyer
    assert client.put(path, json=_limits(), headers=bearer(setup.other_token)).status_code == 404  # a stranger
    too_fast = client.put(path, json=_limits(rate_per_minute=DeliverySettings().api_max_rate_per_minute + 1),
                          headers=bearer(setup.merchant_token))
    assert too_fast.status_code == 422
    assert "rate_per_minute" in too_fast.text
    bad_period = client.put(path, json=_limits(quota_period="week"), headers=bearer(setup.merchant_token))
    assert bad_period.status_code == 422
    assert "quota_period" in bad_period.text
    sandbox = client.put(LIMITS.format(id=setup.sandbox_contract.id), json=_limits(),
                         headers=bearer(setup.merchant_token))
    assert sandbox.status_code == 409
    done = client.put(path, json=_limits(), headers=bearer(setup.merchant_token))
    assert done.status_code == 200, done.text
    seen = client.get(path, headers=bearer(setup.buyer_token)).json()
    assert seen == {**_limits(), "set_by_seller": True}
    assert db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "data_api.limits")) == 1


def test_the_rate_limit_is_a_sliding_window_not_a_fixed_minute(db: Session, setup: Setup) -> None:
    section = DeliverySettings()
    limits.set_limits(db, setup.merchant, section, setup.api_contract.id, rate_per_minute=3, quota_period="day",
                      calls_per_period=1000, rows_per_period=100_000)
    _key, raw = data_api.issue_key(db, setup.buyer, setup.api_contract.id)
    # Three calls in the last two seconds of a minute ...
    start = datetime(2026, 12, 1, 8, 0, 58, tzinfo=UTC)
    for offset in (0.0, 0.5, 1.0):
        data_api.admit(db, raw, section, 1, now=start + timedelta(seconds=offset))
    # ... and a fixed window would let three more through once the minute turns; the sliding one does not.
    with pytest.raises(TooManyRequests) as refused:
        data_api.admit(db, raw, section, 1, now=start + timedelta(seconds=3))
    assert refused.value.code == "rate_limited"
    with pytest.raises(TooManyRequests):
        data_api.admit(db, raw, section, 1, now=start + timedelta(seconds=59.9))
    # 60 seconds after the first call, one place is free again, and only one.
    data_api.admit(db, raw, section, 1, now=start + timedelta(seconds=60.1))
    with pytest.raises(TooManyRequests):
        data_api.admit(db, raw, section, 1, now=start + timedelta(seconds=60.2))
    # The metering job forgets calls older than an hour.
    data_api.report_usage(db, section, now=start + timedelta(hours=2))
    assert db.scalar(select(func.count()).select_from(ApiCall)) == 0


def test_the_contracts_quota_replaces_the_installations(db: Session, setup: Setup) -> None:
    section = DeliverySettings()
    limits.set_limits(db, setup.merchant, section, setup.api_contract.id, rate_per_minute=100, quota_period="month",
                      calls_per_period=2, rows_per_period=100_000)
    _key, raw = data_api.issue_key(db, setup.buyer, setup.api_contract.id)
    moment = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
    for minute in range(2):
        data_api.admit(db, raw, section, 1, now=moment + timedelta(minutes=minute))
    with pytest.raises(TooManyRequests) as refused:
        data_api.admit(db, raw, section, 1, now=moment + timedelta(days=2))  # the same month
    assert refused.value.code == "quota_exhausted"
    data_api.admit(db, raw, section, 1, now=datetime(2027, 1, 1, 0, 1, tzinfo=UTC))  # a new month


@pytest.fixture
def served(isolated_database: Database, tmp_path: Path) -> Iterator[tuple[str, Database, Setup]]:
    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=isolated_database.url,
                        secret_key="test-secret-" + "x" * 32, run_jobs_in_process=False,
                        sections={"delivery": {"api_rate_per_minute": 1000}})
    with isolated_database.unit_of_work() as db:
        setup = make_setup(db, settings, tmp_path, rows=500)
    app = create_app(settings, database=isolated_database)
    with live_server(app) as url:
        yield url, isolated_database, setup


@pytest.mark.slow
def test_the_sellers_limits_hold_under_concurrent_requests(served: tuple[str, Database, Setup]) -> None:
    url, database, setup = served
    with httpx.Client(base_url=url, timeout=60) as client:
        for contract, changes in ((setup.api_contract, {"rate_per_minute": 5}),
                                  (setup.rows_contract, {"rows_per_period": 42})):
            done = client.put(LIMITS.format(id=contract.id), json=_limits(**changes),
                              headers=bearer(setup.merchant_token))
            assert done.status_code == 200, done.text
        calls_key = client.post(f"/api/v1/delivery/contracts/{setup.api_contract.id}/api-key",
                                headers=bearer(setup.buyer_token)).json()["key"]
        rows_key = client.post(f"/api/v1/delivery/contracts/{setup.rows_contract.id}/api-key",
                               headers=bearer(setup.buyer_token)).json()["key"]
    # 30 calls from 6 threads at once against the seller's 5 in any 60 seconds: exactly 5 pass.
    statuses = _hammer(url, calls_key, 30, 6, {"limit": 1})
    assert statuses[200] == 5, statuses
    assert statuses[429] == 25, statuses
    # The seller's quota of 42 rows, pages of 10 from 6 threads: exactly 42 rows leave.
    statuses = _hammer(url, rows_key, 12, 6, {"limit": 10})
    assert statuses[200] + statuses[429] == 12, statuses
    with database.unit_of_work(write=False) as db:
        delivered = sum(m.rows for m in db.scalars(select(ApiMeter).where(
            ApiMeter.contract_id == setup.rows_contract.id)))
    assert delivered == 42, delivered
