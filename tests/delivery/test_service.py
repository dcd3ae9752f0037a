"""Watermarked copies of a real product, recorded and audited, and the seller's leak page."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.accounts.models import User
from qianshu.catalog.models import Listing
from qianshu.core.actor import Actor
from qianshu.core.audit import AuditEvent
from qianshu.core.blobs import open_blob_store
from qianshu.core.db import Database
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.settings import Settings
from qianshu.delivery import service
from qianshu.delivery.files import read_suspect, write_copy
from qianshu.delivery.models import WatermarkedCopy
from qianshu.delivery.watermark import WatermarkKey, watermark_batches
from tests.accounts.test_portal import csrf, sign_in
from tests.delivery.test_watermark import _subset, demo_like_table, product_table
from tests.exchange.conftest import order, signed  # noqa: F401 - fixtures


@pytest.fixture
def product(db: Session, settings: Settings, listed: Callable[..., Listing], merchant: Actor,
            tmp_path: Path) -> Listing:
    path = tmp_path / "data.parquet"
    pq.write_table(product_table(5_000), path)
    digest, size = open_blob_store(settings).put_file(path)
    return listed(merchant, parquet_sha256=digest, parquet_size=size)


def _audits(db: Session, action: str) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_copies_are_recorded_and_a_leak_names_its_recipient(db: Session, database: Database, settings: Settings,
                                                            product: Listing, merchant: Actor,
                                                            tmp_path: Path) -> None:
    copies = {}
    for recipient, fmt in (("HT-2026-000001", "csv"), ("HT-2026-000002", "xlsx"), ("HT-2026-000003", "parquet")):
        copies[recipient] = tmp_path / f"{recipient}.{fmt}"
        service.issue_copy(db, merchant, settings, product.id, recipient, fmt, copies[recipient], label="买方")
    db.flush()
    assert [c.recipient_key for c in db.scalars(select(WatermarkedCopy))] == list(copies)
    assert [e.detail["recipient"] for e in _audits(db, "watermark.issue")] == list(copies)
    # The buyer of the second copy shares a tenth of it, columns renamed, as GB18030 CSV.
    leaked = _subset(read_suspect(copies["HT-2026-000002"]), 0.1).select([5, 3, 2, 0, 4, 1])
    leaked = leaked.rename_columns(["日期", "金额", "住址", "编号", "人数", "区"])
    suspect = tmp_path / "found-online.csv"
    write_copy(leaked.to_batches(), leaked.schema, suspect, "csv-gb18030")
    detection = service.find_leak(database, merchant, settings, product.id, suspect)
    assert detection.named is not None
    assert detection.named.key_id == "HT-2026-000002"
    assert detection.named.label == "买方"
    assert len(detection.candidates) == 3
    audit = _audits(db, "watermark.detect")[-1]
    assert audit.detail["named"] == "HT-2026-000002"
    assert audit.detail["file"] == "found-online.csv"
    assert audit.target_id == str(product.id)


def test_a_copy_delivered_under_the_first_watermark_rules_is_still_traced(
        db: Session, database: Database, settings: Settings, listed: Callable[..., Listing], merchant: Actor,
        tmp_path: Path) -> None:
    """Copies delivered before text marks were limited to free text, and before decimals were
    judged exactly, carry marks in the district and amounts moved by 5 yuan, none of which the
    current plan reads: the leak search recomputes the first rules' plan too and names their
    contract."""
    path = tmp_path / "data.parquet"
    pq.write_table(demo_like_table(3_000).drop_columns(["备注"]), path)
    digest, size = open_blob_store(settings).put_file(path)
    product = listed(merchant, parquet_sha256=digest, parquet_size=size)
    data = service.product_data(db, settings, product)
    earlier = service.plan_for(data, service.watermark_policy(db, settings, product), rules=1)
    assert earlier.column("区县") is not None
    service.issue_copy(db, merchant, settings, product.id, "HT-2026-000009", "csv", tmp_path / "new.csv")
    key = WatermarkKey.for_contract(settings.secret_key, "HT-2026-000008")
    old = pa.Table.from_batches(list(watermark_batches(pq.read_table(data).to_batches(), earlier, key)))
    suspect = tmp_path / "old-copy-found.csv"
    leaked = _subset(old, 0.1)
    write_copy(leaked.to_batches(), leaked.schema, suspect, "csv")
    detection = service.find_leak(database, merchant, settings, product.id, suspect, also=["HT-2026-000008"])
    assert detection.named is not None
    assert detection.named.key_id == "HT-2026-000008"
    assert {c.key_id for c in detection.candidates} == {"HT-2026-000008", "HT-2026-000009"}


def test_a_copy_of_our_data_from_no_recipient_is_silent(db: Session, database: Database, settings: Settings,
                                                        product: Listing, merchant: Actor, tmp_path: Path) -> None:
    service.issue_copy(db, merchant, settings, product.id, "HT-1", "csv", tmp_path / "a.csv")
    db.flush()
    clean = tmp_path / "clean.parquet"
    pq.write_table(product_table(5_000), clean)
    detection = service.find_leak(database, merchant, settings, product.id, clean, also=["HT-2", "HT-3"])
    assert detection.named is None
    assert detection.rows_aligned == 5_000
    assert _audits(db, "watermark.detect")[-1].detail["named"] is None


def test_only_the_seller_looks_and_bad_input_names_its_field(db: Session, database: Database, settings: Settings,
                                                             product: Listing, merchant: Actor, buyer: Actor,
                                                             make: Any, tmp_path: Path) -> None:
    other_merchant = make.actor(make.user())
    suspect = tmp_path / "x.csv"
    suspect.write_text("a,b\n1,2\n", encoding="utf-8")
    for outsider in (buyer, other_merchant):
        with pytest.raises(NotFound):
            service.find_leak(database, outsider, settings, product.id, suspect)
        with pytest.raises(NotFound):
            service.issue_copy(db, outsider, settings, product.id, "HT-1", "csv", tmp_path / "y.csv")
    with pytest.raises(InvalidInput) as bad:
        service.issue_copy(db, merchant, settings, product.id, "合同 1", "csv", tmp_path / "y.csv")
    assert bad.value.field == "recipient"
    with pytest.raises(InvalidInput) as bad:
        service.issue_copy(db, merchant, settings, product.id, "HT-1", "pdf", tmp_path / "y.pdf")
    assert bad.value.field == "format"
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(InvalidInput) as bad:
        service.find_leak(database, merchant, settings, product.id, junk)
    assert bad.value.field == "file"


def test_the_seller_finds_the_leak_on_the_portal(client: Any, db: Session, settings: Settings, product: Listing,
                                                 merchant: Actor, make: Any, tmp_path: Path) -> None:
    copy = tmp_path / "copy.xlsx"
    service.issue_copy(db, merchant, settings, product.id, "HT-2026-000777", "xlsx", copy, label="遵义某公司")
    service.issue_copy(db, merchant, settings, product.id, "HT-2026-000778", "xlsx", tmp_path / "other.xlsx")
    db.flush()
    seller = db.get_one(User, merchant.user_id)
    sign_in(client, seller.email)
    form = client.get("/delivery/leaks")
    assert form.status_code == 200
    assert f'value="{product.id}"' in form.text
    token = csrf(client, "/")
    answer = client.post(f"/delivery/leaks?csrf_token={token}", data={"listing_id": str(product.id)},
                         files={"file": ("泄露.xlsx", copy.read_bytes(),
                                         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")})
    assert answer.status_code == 200, answer.text
    assert "HT-2026-000777" in answer.text
    assert "遵义某公司" in answer.text
    assert re.search(r"1e-\d+\.\d", answer.text)
    clean = tmp_path / "clean.parquet"
    pq.write_table(pa.table({"x": ["a", "b"]}), clean)
    silent = client.post(f"/delivery/leaks?csrf_token={token}", data={"listing_id": str(product.id)},
                         files={"file": ("别处.parquet", clean.read_bytes(), "application/octet-stream")})
    assert silent.status_code == 200
    assert "未发现本平台的水印" in silent.text
    missing = client.post("/delivery/leaks", data={"listing_id": str(product.id), "csrf_token": token})
    assert missing.status_code == 422
    assert "请选择要检验的文件" in missing.text


def test_the_seller_sets_identity_and_tolerances_until_the_first_copy(
        db: Session, database: Database, settings: Settings, product: Listing, merchant: Actor, buyer: Actor,
        tmp_path: Path) -> None:
    view = service.policy_view(db, merchant, settings, product.id)
    assert [c.name for c in view.columns if c.identifies] == ["户编号"]  # chosen from the data
    assert not view.chosen_identity
    with pytest.raises(InvalidInput) as bad:
        service.set_watermark_policy(db, merchant, settings, product.id, ["户编号"], {"收入": -1.0})
    assert bad.value.field == "tolerances"
    with pytest.raises(InvalidInput) as bad:
        service.set_watermark_policy(db, merchant, settings, product.id, ["编号"], {})
    assert bad.value.field == "columns"
    with pytest.raises(NotFound):
        service.set_watermark_policy(db, buyer, settings, product.id, ["户编号"], {})
    service.set_watermark_policy(db, merchant, settings, product.id, ["户编号"], {"收入": 0.02, "人口": 1})
    view = service.policy_view(db, merchant, settings, product.id)
    steps = {c.name: c.step for c in view.columns}
    assert steps["收入"] == 0.02
    assert steps["人口"] == 1
    assert view.chosen_identity

    copy = tmp_path / "copy.parquet"
    service.issue_copy(db, merchant, settings, product.id, "HT-7", "parquet", copy)
    db.flush()
    original = product_table(5_000)
    marked = pq.read_table(copy)
    income = (marked.column("收入").to_numpy() - original.column("收入").to_numpy())
    assert abs(income).max() <= 0.02 + 1e-9
    assert set(abs(marked.column("人口").to_numpy() - original.column("人口").to_numpy())) == {0, 1}
    assert service.policy_view(db, merchant, settings, product.id).locked
    with pytest.raises(Conflict):
        service.set_watermark_policy(db, merchant, settings, product.id, ["户编号"], {"收入": 0.05})
    detection = service.find_leak(database, merchant, settings, product.id, copy)
    assert detection.named is not None
    assert detection.named.key_id == "HT-7"
    assert _audits(db, "watermark.policy")[-1].detail["tolerances"] == {"收入": 0.02, "人口": 1}


def test_the_policy_page(client: Any, db: Session, product: Listing, merchant: Actor) -> None:
    seller = db.get_one(User, merchant.user_id)
    sign_in(client, seller.email)
    page = client.get(f"/delivery/products/{product.id}/watermark")
    assert page.status_code == 200
    assert 'data-column="收入"' in page.text
    token = csrf(client, f"/delivery/products/{product.id}/watermark")
    saved = client.post(f"/delivery/products/{product.id}/watermark",
                        data={"csrf_token": token, "identity": ["户编号"], "tol::收入": "0.03", "tol::人口": ""},
                        follow_redirects=False)
    assert saved.status_code == 303
    assert "± 0.03" in client.get(f"/delivery/products/{product.id}/watermark").text
    refused = client.post(f"/delivery/products/{product.id}/watermark",
                          data={"csrf_token": token, "identity": ["户编号"], "tol::收入": "很多"})
    assert refused.status_code == 422
    assert "收入 的容差必须是不小于 0 的数" in refused.text


def test_a_leak_is_traced_to_a_signed_contract_of_the_exchange(db: Session, database: Database, settings: Settings,
                                                               merchant: Actor, signed: Callable[..., Any],  # noqa: F811
                                                               tmp_path: Path) -> None:
    """The candidates are the product's signed contracts, with no copy recorded beforehand."""
    path = tmp_path / "data.parquet"
    pq.write_table(product_table(5_000), path)
    digest, size = open_blob_store(settings).put_file(path)
    contract = signed(parquet_sha256=digest, parquet_size=size)
    listing = db.get(Listing, contract.listing_id)
    assert listing is not None
    assert [r.key_id for r in service.recipients(db, listing)] == [contract.number]
    copy = tmp_path / "copy.parquet"
    service.issue_copy(db, merchant, settings, listing.id, contract.number, "parquet", copy)
    db.flush()
    suspect = tmp_path / "suspect.csv"
    leaked = _subset(read_suspect(copy), 0.1)
    write_copy(leaked.to_batches(), leaked.schema, suspect, "csv")
    detection = service.find_leak(database, merchant, settings, listing.id, suspect)
    assert detection.named is not None
    assert detection.named.key_id == contract.number
