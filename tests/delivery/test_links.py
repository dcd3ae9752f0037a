"""Signed download links: issued to the buyer of a contract in force, watermarked per contract,
refused when expired, forged, of another contract or of a contract no longer in force; audited,
logged and shown to both parties."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.accounts.models import User
from qianshu.catalog.models import Listing
from qianshu.catalog.schemas import PlanIn
from qianshu.core.actor import Actor
from qianshu.core.audit import AuditEvent
from qianshu.core.blobs import open_blob_store
from qianshu.core.db import Database
from qianshu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from qianshu.core.settings import Settings
from qianshu.core.timeutil import utcnow
from qianshu.delivery import links, service
from qianshu.delivery.models import DownloadLink
from qianshu.delivery.settings import DeliverySettings
from qianshu.exchange import changes as exchange_changes
from qianshu.exchange import contracts as exchange_contracts
from qianshu.exchange import orders as exchange_orders
from qianshu.exchange import payments
from qianshu.exchange.models import Contract
from qianshu.exchange.schemas import ChangeIn, OrderIn
from qianshu.translog.models import LogEntry
from tests.accounts.test_portal import csrf, sign_in
from tests.delivery.test_watermark import product_table
from tests.exchange.conftest import fund  # noqa: F401 - fixture

PLANS = [PlanIn(kind="one_time", price="1200", delivery_modes=["download", "delta_sharing"])]


@pytest.fixture
def contract_of(db: Session, settings: Settings, listed: Callable[..., Listing], merchant: Actor, buyer: Actor,
                fund: Callable[[Actor, int], None], tmp_path: Path) -> Callable[..., Contract]:  # noqa: F811
    """``contract_of(mode)``: a paid contract in force for a product with 3,000 rows of data."""
    path = tmp_path / "data.parquet"
    pq.write_table(product_table(3_000), path)
    digest, size = open_blob_store(settings).put_file(path)

    def _make(mode: str = "download", who: Actor | None = None) -> Contract:
        who = who or buyer
        product = listed(merchant, parquet_sha256=digest, parquet_size=size, plans=PLANS)
        order = exchange_orders.place_order(db, who, OrderIn(listing_id=product.id, plan_id=product.plans[0].id,
                                                             purpose="research",
                                                             scenario="交通研究的测试场景与数据交付",
                                                             delivery_mode=mode))
        contract = exchange_orders.accept_order(db, merchant, order.id)
        exchange_contracts.sign(db, who, contract.id)
        exchange_contracts.sign(db, merchant, contract.id)
        fund(who, contract.price_fen)
        payments.pay(db, who, contract.id)
        return contract

    return _make


def _fetch(client: Any, settings: Settings, link: DownloadLink) -> Any:
    parts = urlsplit(settings.public_base + links.link_path(settings, link))
    return client.get(f"{parts.path}?{parts.query}", headers={"Accept": "application/json"})


def _audits(db: Session, action: str) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_a_buyer_downloads_a_watermarked_copy_in_each_format(client: Any, db: Session, database: Database,
                                                           settings: Settings, buyer: Actor, merchant: Actor,
                                                           contract_of: Callable[..., Contract],
                                                           tmp_path: Path) -> None:
    contract = contract_of()
    bodies = {}
    for fmt in ("csv", "csv-excel", "csv-gb18030", "xlsx", "parquet"):
        link = links.issue_link(db, buyer, settings, contract.id, fmt)
        db.flush()
        response = _fetch(client, settings, link)
        assert response.status_code == 200, response.text
        assert contract.number in response.headers["content-disposition"]
        bodies[fmt] = response.content
    assert bodies["csv-gb18030"].decode("gb18030").replace("\r\n", "\n") == bodies["csv"].decode("utf-8")
    # UTF-8 for Excel: the same text after the byte-order mark Excel needs to read it as UTF-8; plain UTF-8 has none
    assert bodies["csv-excel"] == b"\xef\xbb\xbf" + bodies["csv"]
    assert not bodies["csv"].startswith(b"\xef\xbb\xbf")
    table = pacsv.read_csv(io.BytesIO(bodies["csv"]))
    assert table.num_rows == 3_000
    assert pq.read_table(io.BytesIO(bodies["parquet"])).num_rows == 3_000
    # The copy is marked, and the mark names this contract.
    listing = db.get(Listing, contract.listing_id)
    assert listing is not None
    original = pq.read_table(service.product_data(db, settings, listing))
    assert not pq.read_table(io.BytesIO(bodies["parquet"])).equals(original)
    suspect = tmp_path / "leaked.xlsx"
    suspect.write_bytes(bodies["xlsx"])
    found = service.find_leak(database, merchant, settings, contract.listing_id, suspect)
    assert found.named is not None
    assert found.named.key_id == contract.number
    # Audited, logged, counted.
    assert [e.detail["format"] for e in _audits(db, "delivery.download")] == ["csv", "csv-excel", "csv-gb18030",
                                                                             "xlsx", "parquet"]
    assert len(_audits(db, "delivery.link_issue")) == 5
    leaves = [e.leaf for e in db.scalars(select(LogEntry))]
    assert sum(b"delivery.download_link_issued" in leaf for leaf in leaves) == 5
    assert sum(b"delivery.downloaded" in leaf for leaf in leaves) == 5
    db.expire_all()
    assert [x.fetches for x in db.scalars(select(DownloadLink))] == [1, 1, 1, 1, 1]


def test_links_refuse_expired_forged_other_contracts_and_ended_contracts(
        client: Any, db: Session, settings: Settings, buyer: Actor, merchant: Actor, operator: Actor,
        contract_of: Callable[..., Contract], monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = contract_of(), contract_of()
    link = links.issue_link(db, buyer, settings, first.id, "csv")
    db.flush()
    good = urlsplit(links.link_path(settings, link))
    expires = re.search(r"expires=(\d+)", good.query).group(1)  # type: ignore[union-attr]
    signature = re.search(r"signature=([0-9a-f]+)", good.query).group(1)  # type: ignore[union-attr]
    cases = {
        "forged signature": f"{good.path}?expires={expires}&signature={'0' * 64}",
        "garbage signature": f"{good.path}?expires={expires}&signature=<script>",
        "later expiry": f"{good.path}?expires={int(expires) + 3600}&signature={signature}",
        "no query": good.path,
        "other contract": good.path.replace(f"/contracts/{first.id}/", f"/contracts/{second.id}/")
                          + f"?expires={expires}&signature={signature}",
        "unknown link": good.path.replace(f"/downloads/{link.id}", "/downloads/999999")
                        + f"?expires={expires}&signature={signature}",
    }
    for name, path in cases.items():
        response = client.get(path, headers={"Accept": "application/json", "Accept-Language": "zh-CN"})
        assert response.status_code == 403, (name, response.status_code)
        assert response.json()["code"] == "link_invalid", name
        assert "下载链接无效" in response.text, name
        english = client.get(path, headers={"Accept": "application/json", "Cookie": "qs_lang=en"})
        assert "This download link is not valid" in english.text, name
    # A replay after the expiry, with its good signature.
    later = utcnow() + timedelta(minutes=settings.section(DeliverySettings).download_link_minutes + 1)
    monkeypatch.setattr(links, "utcnow", lambda: later)
    replay = _fetch(client, settings, link)
    assert replay.status_code == 403
    assert replay.json()["code"] == "link_expired"
    monkeypatch.undo()
    # A fresh link dies with its contract.
    fresh = links.issue_link(db, buyer, settings, first.id, "csv")
    db.flush()
    assert _fetch(client, settings, fresh).status_code == 200
    exchange_changes.operate(db, operator, first.id, ChangeIn(kind="terminate", reason="合同终止测试"))
    db.flush()
    ended = _fetch(client, settings, fresh)
    assert ended.status_code == 403
    assert ended.json()["code"] == "contract_inactive"
    assert "Name" not in ended.text
    assert "幸福路" not in ended.text


def test_only_the_buyer_of_a_download_contract_in_force_gets_a_link(
        db: Session, settings: Settings, buyer: Actor, merchant: Actor, make: Any,
        contract_of: Callable[..., Contract]) -> None:
    contract = contract_of()
    with pytest.raises(PermissionDenied):
        links.issue_link(db, merchant, settings, contract.id, "csv")  # the seller
    stranger = make.actor(make.user(organisation=make.org(org_type="buyer")))
    with pytest.raises(NotFound):
        links.issue_link(db, stranger, settings, contract.id, "csv")
    with pytest.raises(InvalidInput) as bad:
        links.issue_link(db, buyer, settings, contract.id, "pdf")
    assert bad.value.field == "format"
    sharing = contract_of("delta_sharing")
    with pytest.raises(Conflict):
        links.issue_link(db, buyer, settings, sharing.id, "csv")  # not a download contract


def test_a_concurrent_double_fetch_gives_two_identical_copies(isolated_database: Database, tmp_path: Path) -> None:
    """Two fetches of one link at once, on real commits: both served, both counted, the same bytes."""
    from fastapi.testclient import TestClient

    from qianshu.web.app import create_app
    from tests.delivery.test_delta_sharing import committed_contract

    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=isolated_database.url,
                        secret_key="test-secret-" + "x" * 32, run_jobs_in_process=False)
    trade = committed_contract(isolated_database, settings, tmp_path, "download")
    with isolated_database.unit_of_work() as db:
        link = links.issue_link(db, trade["buyer"], settings, trade["contract_id"], "parquet")
        path = urlsplit(links.link_path(settings, link))
    app = create_app(settings, database=isolated_database)
    results: list[Any] = []
    with TestClient(app) as client:
        barrier = threading.Barrier(2)

        def fetch() -> None:
            barrier.wait()
            results.append(client.get(f"{path.path}?{path.query}"))

        threads = [threading.Thread(target=fetch) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert [r.status_code for r in results] == [200, 200]
    assert results[0].content == results[1].content
    with isolated_database.unit_of_work(write=False) as db:
        assert db.scalar(select(DownloadLink.fetches).where(DownloadLink.id == link.id)) == 2
        assert len(_audits(db, "delivery.download")) == 2
    assert not list((settings.data_dir / "tmp").glob("qianshu-download-*"))  # temporary copies removed


def test_both_parties_see_the_delivery_on_the_contract_page(client: Any, db: Session, settings: Settings,
                                                            buyer: Actor, merchant: Actor,
                                                            contract_of: Callable[..., Contract]) -> None:
    contract = contract_of()
    buyer_email = db.get(User, buyer.user_id).email  # type: ignore[union-attr]
    seller_email = db.get(User, merchant.user_id).email  # type: ignore[union-attr]
    sign_in(client, buyer_email)
    page = client.get(f"/exchange/contracts/{contract.id}")
    assert f'href="/delivery/contracts/{contract.id}"' in page.text
    token = csrf(client, f"/delivery/contracts/{contract.id}")
    issued = client.post(f"/delivery/contracts/{contract.id}/links", data={"format": "xlsx", "csrf_token": token},
                         follow_redirects=False)
    assert issued.status_code == 303
    refused = client.post(f"/delivery/contracts/{contract.id}/links", data={"format": "exe", "csrf_token": token})
    assert refused.status_code == 422
    assert "format" in refused.text.lower()
    delivery = client.get(f"/delivery/contracts/{contract.id}")
    link = re.search(r'href="(http[^"]+/downloads/[^"]+)"', delivery.text)
    assert link is not None
    parts = urlsplit(link.group(1).replace("&amp;", "&"))
    assert client.get(f"{parts.path}?{parts.query}").status_code == 200
    client.post("/sign-out", data={"csrf_token": csrf(client, "/")})
    client.cookies.clear()
    sign_in(client, seller_email)
    seen = client.get(f"/delivery/contracts/{contract.id}")
    assert seen.status_code == 200
    assert "下载链接已签发" in seen.text or "Download link issued" in seen.text
    # the fetch was made by the link itself: the page says so in its language, not "download link"
    events = seen.text.split('id="delivery-events"')[1]
    assert "文件已下载" in events
    assert "下载链接 · " in re.sub(r"<[^>]+>", "", events)
    assert "download link" not in events
    assert "/downloads/" not in seen.text  # the seller sees what was delivered, not the buyer's links
    assert 'id="issue-link"' not in seen.text
