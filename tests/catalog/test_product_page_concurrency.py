"""A product page whose sample holds personal data, loaded while other users sign in, over real HTTP.

Before: the page wrote its audit row inside its read transaction, then counted the view in a
second write transaction that waited on the first until the busy timeout: 30 s for every such
page, and a sign-in meanwhile failed with 503 "数据库繁忙".
"""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from qianshu.catalog import service
from qianshu.catalog.models import Listing
from qianshu.catalog.schemas import ListingIn, PlanIn
from qianshu.core.audit import AuditEvent
from qianshu.core.blobs import LocalBlobStore
from qianshu.core.db import Database
from qianshu.core.settings import Settings
from qianshu.core.timeutil import utcnow
from qianshu.registry.models import PiiFinding, Registration
from qianshu.web.app import create_app
from tests.factories import TEST_PASSWORD, Factories
from tests.web.live import live_server

SECONDS = 3.0


@pytest.fixture
def served(isolated_database: Database, tmp_path: Path) -> Iterator[tuple[str, int, list[str]]]:
    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=isolated_database.url,
                        secret_key="test-secret-" + "x" * 32, run_jobs_in_process=False)
    table = pa.table({"姓名": ["王伟", "李娜", "张敏"], "手机号": ["13812345678", "13912345678", "15812345678"],
                      "金额": [12.5, 30.0, 7.25]})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    digest, size = LocalBlobStore(settings.blob_dir).put_stream([buffer.getvalue()])
    with isolated_database.unit_of_work() as db:
        make = Factories(db)
        holder = make.actor(make.user(organisation=make.org(org_type="data_merchant")))
        operator = make.actor(make.operator())
        emails = [make.user(organisation=make.org(org_type="buyer")).email for _ in range(3)]
        reg = Registration(holder_org_id=holder.org_id, status="issued", number="QS-DR-2026-900001",
                           title_zh="含个人信息的样本", title_en="Sample with personal data", description_zh="",
                           description_en="", industry_code="G54", division_code="520102",
                           update_frequency="daily", classification="general", personal_info="general",
                           row_count=3, column_count=3, issued_at=utcnow(), parquet_sha256=digest,
                           parquet_size=size)
        db.add(reg)
        db.flush()
        db.add(PiiFinding(registration_id=reg.id, column_name="手机号", kind="mobile", share=1.0, scanned=3,
                          matched=3, masked_example="138****5678"))
        listing = service.create_listing(db, holder, ListingIn(registration_id=reg.id, tags=[], data_type="table"))
        service.add_plan(db, holder, listing.id, PlanIn(kind="one_time", price="1200", delivery_modes=["download"]))
        service.submit_listing(db, holder, listing.id)
        service.review_listing(db, operator, listing.id, "approve")
        listing_id = listing.id
    with live_server(create_app(settings, database=isolated_database)) as url:
        yield url, listing_id, emails


def _sign_in(client: httpx.Client, email: str) -> int:
    page = client.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    answer = client.post("/sign-in", data={"email": email, "password": TEST_PASSWORD, "csrf_token": token.group(1)})
    client.cookies.clear()
    return answer.status_code


@pytest.mark.alone
def test_a_personal_data_page_and_sign_ins_answer_quickly_together(
        served: tuple[str, int, list[str]], isolated_database: Database) -> None:
    url, listing_id, emails = served
    pages: list[tuple[int, float, str]] = []
    sign_ins: list[tuple[int, float]] = []
    stop = time.monotonic() + SECONDS

    def viewer() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while time.monotonic() < stop:
                started = time.monotonic()
                r = client.get(f"/catalog/{listing_id}")
                pages.append((r.status_code, time.monotonic() - started, r.text))

    def signer(email: str) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while time.monotonic() < stop:
                started = time.monotonic()
                status = _sign_in(client, email)
                sign_ins.append((status, time.monotonic() - started))

    threads = [threading.Thread(target=viewer), threading.Thread(target=viewer),
               *(threading.Thread(target=signer, args=(e,)) for e in emails)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert pages
    assert sign_ins
    assert all(status == 200 for status, _t, _text in pages), {s for s, _t, _x in pages}
    assert all(status == 303 for status, _t in sign_ins), {s for s, _t in sign_ins}
    page_times = sorted(t for _s, t, _x in pages)
    sign_in_times = sorted(t for _s, t in sign_ins)
    assert page_times[-1] < 3.0, page_times[-5:]
    assert sign_in_times[-1] < 3.0, sign_in_times[-5:]
    assert "138****5678" in pages[0][2]  # the sample is shown, masked
    with isolated_database.unit_of_work(write=False) as db:
        audited = db.scalar(select(func.count()).select_from(AuditEvent)
                            .where(AuditEvent.action == "listing.sample_viewed"))
        views = db.scalar(select(Listing.views).where(Listing.id == listing_id))
    assert audited == len(pages)  # every view of personal data is audited
    assert views == len(pages)
