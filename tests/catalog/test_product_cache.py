"""The product page's sample comes from a per-process cache of each data file's rows: it must
never show one registration's rows on another's page, never show personal data unmasked to
anyone however warm the cache, and never skip the audit of a view of personal data."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.catalog.models import Listing
from qianshu.catalog.page_cache import page_caches
from qianshu.core.actor import Actor
from qianshu.core.audit import AuditEvent
from qianshu.core.blobs import LocalBlobStore
from qianshu.core.settings import Settings
from qianshu.registry.models import PiiFinding, Registration
from tests.accounts.test_portal import sign_in


@pytest.fixture(autouse=True)
def empty_caches() -> Iterator[None]:
    page_caches.clear()
    yield
    page_caches.clear()


def _parquet(settings: Settings, columns: dict[str, list[Any]]) -> tuple[str, int]:
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    return LocalBlobStore(settings.blob_dir).put_stream([buffer.getvalue()])


def _with_data(listed: Callable[..., Listing], holder: Actor, settings: Settings,
               columns: dict[str, list[Any]], **kwargs: Any) -> Listing:
    digest, size = _parquet(settings, columns)
    return listed(holder, parquet_sha256=digest, parquet_size=size, **kwargs)


def test_each_product_shows_its_own_sample_however_warm_the_cache(  # type: ignore[no-untyped-def]
        client, db: Session, settings: Settings, listed, merchant: Actor, make) -> None:
    first = _with_data(listed, merchant, settings, {"站点": ["甲站-第一版"], "数量": [1]})
    for _ in range(2):
        page = client.get(f"/catalog/{first.id}")
        assert page.status_code == 200
        assert "甲站-第一版" in page.text
    other_holder = make.actor(make.user())
    second = _with_data(listed, other_holder, settings, {"站点": ["乙站-第二版"], "数量": [2]})
    page = client.get(f"/catalog/{second.id}")
    assert "乙站-第二版" in page.text
    assert "甲站-第一版" not in page.text
    assert "甲站-第一版" in client.get(f"/catalog/{first.id}").text


def test_new_data_behind_a_product_shows_the_new_rows(  # type: ignore[no-untyped-def]
        client, db: Session, settings: Settings, listed, merchant: Actor) -> None:
    product = _with_data(listed, merchant, settings, {"站点": ["旧数据"], "数量": [1]})
    assert "旧数据" in client.get(f"/catalog/{product.id}").text  # cached now
    # A new version of the data behind the product: a new data file, so a new digest.
    digest, size = _parquet(settings, {"站点": ["新数据"], "数量": [2]})
    reg = db.get(Registration, product.registration_id)
    assert reg is not None
    reg.parquet_sha256, reg.parquet_size = digest, size
    db.flush()
    page = client.get(f"/catalog/{product.id}").text
    assert "新数据" in page
    assert "旧数据" not in page


def test_personal_data_stays_masked_for_everyone_and_every_view_is_audited(  # type: ignore[no-untyped-def]
        client, db: Session, settings: Settings, listed, merchant: Actor, make) -> None:
    product = _with_data(listed, merchant, settings,
                         {"姓名": ["王伟", "李娜"], "手机号": ["13812345678", "13912345678"], "金额": [12.5, 30.0]},
                         personal_info="general")
    db.add(PiiFinding(registration_id=product.registration_id, column_name="手机号", kind="mobile", share=1.0,
                      scanned=2, matched=2, masked_example="138****5678"))
    db.flush()

    # The holder's organisation views it first (the cache fills), then a buyer with no purchase.
    holder_user = make.user(organisation=make.org(org_type="data_merchant"))
    holder_user.org_id = merchant.org_id
    db.flush()
    sign_in(client, holder_user.email)
    assert "138****5678" in client.get(f"/catalog/{product.id}").text
    client.cookies.clear()
    buyer = make.user(organisation=make.org(org_type="buyer"))
    sign_in(client, buyer.email)
    for _ in range(2):
        page = client.get(f"/catalog/{product.id}").text
        assert "138****5678" in page
        assert "13812345678" not in page
        assert "13912345678" not in page
    client.cookies.clear()
    anonymous = client.get(f"/catalog/{product.id}").text
    assert "138****5678" in anonymous
    assert "13812345678" not in anonymous

    audited = db.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "listing.sample_viewed", AuditEvent.target_id == str(product.id)))
    assert audited == 4  # one per view, cached sample or not
    assert page_caches.samples.hits >= 3


def test_a_missing_data_file_is_not_remembered(  # type: ignore[no-untyped-def]
        client, db: Session, settings: Settings, listed, merchant: Actor, tmp_path: Path) -> None:
    digest, size = _parquet(settings, {"站点": ["稍后可见"], "数量": [1]})
    blob = LocalBlobStore(settings.blob_dir).path(digest)
    kept = blob.read_bytes()
    blob.unlink()
    product = listed(merchant, parquet_sha256=digest, parquet_size=size)
    assert "稍后可见" not in client.get(f"/catalog/{product.id}").text  # the page shows no sample
    blob.write_bytes(kept)  # restored (from a backup)
    assert "稍后可见" in client.get(f"/catalog/{product.id}").text


def test_a_damaged_data_file_shows_the_page_without_a_sample(  # type: ignore[no-untyped-def]
        client, db: Session, settings: Settings, listed, merchant: Actor) -> None:
    digest, size = _parquet(settings, {"站点": ["看不见"], "数量": [1]})
    blob = LocalBlobStore(settings.blob_dir).path(digest)
    blob.write_bytes(blob.read_bytes()[: size // 2])  # cut in half: the footer is gone
    product = listed(merchant, parquet_sha256=digest, parquet_size=size)
    page = client.get(f"/catalog/{product.id}")
    assert page.status_code == 200
    assert (product.title_zh or product.title_en) in page.text
    assert "看不见" not in page.text


def test_views_are_counted_together_and_none_is_lost_when_the_app_stops(  # type: ignore[no-untyped-def]
        app, db: Session, listed, merchant: Actor) -> None:
    from fastapi.testclient import TestClient

    from qianshu.catalog.view_counts import ViewCounts

    product = listed(merchant)
    other = listed(merchant)
    # A long interval: four page loads on a busy CI machine once took more than the default second.
    app.state.view_counts = ViewCounts(flush_seconds=3600)
    with TestClient(app, base_url="http://testserver") as client:
        for listing_id in (product.id, product.id, other.id, product.id):
            assert client.get(f"/catalog/{listing_id}").status_code == 200
        # Before the interval is over nothing is written yet: views are written together.
        assert db.scalar(select(Listing.views).where(Listing.id == product.id)) == 0
    # The app wrote what it had counted when it stopped.
    db.expire_all()
    assert db.scalar(select(Listing.views).where(Listing.id == product.id)) == 3
    assert db.scalar(select(Listing.views).where(Listing.id == other.id)) == 1


def test_views_are_written_about_once_a_second_while_products_are_viewed(  # type: ignore[no-untyped-def]
        app, client, db: Session, listed, merchant: Actor) -> None:
    from qianshu.catalog.view_counts import ViewCounts

    product = listed(merchant)
    app.state.view_counts = ViewCounts(flush_seconds=0.0)  # every view is due
    for expected in (1, 2):
        assert client.get(f"/catalog/{product.id}").status_code == 200
        db.expire_all()
        assert db.scalar(select(Listing.views).where(Listing.id == product.id)) == expected
