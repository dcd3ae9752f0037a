"""The Delta Sharing server, read by the REAL official client (``delta-sharing`` from PyPI) against a
live server on a loopback port: listing, metadata, versions, queries with limit and predicate hints,
pre-signed files; revoked, expired and other contracts' tokens and tables refused."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uvicorn
from sqlalchemy import select

from qianshu.catalog import service as catalog
from qianshu.catalog.schemas import ListingIn, PlanIn
from qianshu.core.audit import AuditEvent
from qianshu.core.blobs import open_blob_store
from qianshu.core.db import Database
from qianshu.core.errors import NotAuthenticated
from qianshu.core.settings import Settings
from qianshu.core.timeutil import utcnow
from qianshu.delivery import delta_tokens, service
from qianshu.delivery.models import SharingToken
from qianshu.delivery.settings import DeliverySettings
from qianshu.exchange import bills, payments
from qianshu.exchange import changes as exchange_changes
from qianshu.exchange import contracts as exchange_contracts
from qianshu.exchange import orders as exchange_orders
from qianshu.exchange.models import UsageReport
from qianshu.exchange.schemas import ChangeIn, OrderIn
from qianshu.exchange.service import PREPAID_KINDS
from qianshu.ledger import service as ledger
from qianshu.registry.models import Registration
from qianshu.web.app import create_app
from tests.delivery.test_links import contract_of  # noqa: F401 - fixture
from tests.delivery.test_watermark import product_table
from tests.exchange.conftest import fund  # noqa: F401 - fixture
from tests.factories import Factories

delta_sharing = pytest.importorskip("delta_sharing")

ROWS = 3_000
FILE_ROWS = 1_000


def _put(settings: Settings, table: pa.Table, folder: Path) -> tuple[str, int]:
    path = folder / f"{uuid.uuid4().hex}.parquet"
    pq.write_table(table, path)
    return open_blob_store(settings).put_file(path)


def committed_contract(database: Database, settings: Settings, folder: Path, mode: str,
                       rows: int = ROWS, data: tuple[str, int] | None = None, kind: str = "one_time",
                       price: str = "500") -> dict[str, Any]:
    """Committed: a seller, a buyer, a product with ``rows`` rows (or the stored Parquet ``data``,
    its digest and size), and a contract in force (paid, when ``kind`` is paid before use) whose
    delivery is ``mode``."""
    digest, size = data or _put(settings, product_table(rows), folder)
    with database.unit_of_work() as db:
        make = Factories(db)
        operator = make.actor(make.operator())
        seller_user, buyer_user = make.user(), make.user(organisation=make.org(org_type="buyer"))
        seller, buyer = make.actor(seller_user), make.actor(buyer_user)
        reg = Registration(holder_org_id=seller.org_id, status="issued",
                           number=f"QS-DR-2026-{uuid.uuid4().int % 10**6:06d}", title_zh="低收入家庭数据",
                           title_en="Households", description_zh="", description_en="", industry_code="G54",
                           division_code="520102", update_frequency="daily", classification="general",
                           personal_info="none", row_count=rows, column_count=6, parquet_sha256=digest,
                           parquet_size=size, issued_at=utcnow() - timedelta(days=10))
        db.add(reg)
        db.flush()
        listing = catalog.create_listing(db, seller, ListingIn(registration_id=reg.id))
        catalog.add_plan(db, seller, listing.id, PlanIn(kind=kind, price=price,  # type: ignore[arg-type]
                                                        delivery_modes=["download", "delta_sharing"]))
        catalog.submit_listing(db, seller, listing.id)
        catalog.review_listing(db, operator, listing.id, "approve")
        ledger.deposit(db, operator, org_id=buyer.org_id or 0, amount_fen=50_000,
                       bank_reference=f"T-{uuid.uuid4().hex}")
        order = exchange_orders.place_order(db, buyer, OrderIn(listing_id=listing.id, plan_id=listing.plans[0].id,
                                                               purpose="research", scenario="数据共享协议的测试场景",
                                                               delivery_mode=mode))
        contract = exchange_orders.accept_order(db, seller, order.id)
        exchange_contracts.sign(db, buyer, contract.id)
        exchange_contracts.sign(db, seller, contract.id)
        if kind in PREPAID_KINDS:
            payments.pay(db, buyer, contract.id)
        return {"buyer": buyer, "seller": seller, "operator": operator, "contract_id": contract.id,
                "number": contract.number, "listing_id": listing.id, "registration_id": reg.id,
                "buyer_user": buyer_user.id}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live(isolated_database: Database, tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    port = _free_port()
    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=isolated_database.url,
                        secret_key="test-secret-" + "x" * 32, run_jobs_in_process=False,
                        public_base_url=f"http://127.0.0.1:{port}",
                        sections={"delivery": {"sharing_file_rows": FILE_ROWS}})
    app = create_app(settings, database=isolated_database)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, name="delta-sharing-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "the test server did not start"
        assert thread.is_alive(), "the test server stopped"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", settings
    finally:
        server.should_exit = True
        thread.join(10)


def _profile(database: Database, settings: Settings, trade: dict[str, Any], folder: Path) -> tuple[Path, str]:
    with database.unit_of_work() as db:
        row, token = delta_tokens.issue_token(db, trade["buyer"], settings, trade["contract_id"])
        body = delta_tokens.profile(settings, token, row)
    path = folder / f"{trade['number']}-{row.id}.share"
    path.write_text(json.dumps(body))
    return path, token


def test_the_official_client_reads_a_watermarked_share(live: tuple[str, Settings], isolated_database: Database,
                                                      tmp_path: Path) -> None:
    base, settings = live
    # Per 1,000 rows (¥2): each query's answer reports the rows of the files it lists (delivery/metering.py).
    trade = committed_contract(isolated_database, settings, tmp_path, "delta_sharing", kind="per_1000_rows",
                               price="2")
    profile, _token = _profile(isolated_database, settings, trade, tmp_path)
    share = delta_tokens.share_name(trade["number"])
    url = f"{profile}#{share}.product.data"

    client = delta_sharing.SharingClient(str(profile))
    assert [(t.share, t.schema, t.name) for t in client.list_all_tables()] == [(share, "product", "data")]
    assert [s.name for s in client.list_shares()] == [share]

    frame = delta_sharing.load_as_pandas(url)
    assert len(frame) == ROWS
    assert list(frame.columns) == ["户编号", "县区", "地址", "收入", "人口", "登记日期"]
    original = product_table(ROWS).to_pandas()
    assert (frame["户编号"] == original["户编号"]).all()  # identity kept
    assert not frame.equals(original)  # but marked
    # The copy served names its contract.
    leaked = tmp_path / "leaked.parquet"
    pq.write_table(pa.Table.from_pandas(frame.sample(frac=0.2, random_state=1), preserve_index=False), leaked)
    detection = service.find_leak(isolated_database, trade["seller"], settings, trade["listing_id"], leaked)
    assert detection.named is not None
    assert detection.named.key_id == trade["number"]

    window = settings.section(DeliverySettings).sharing_url_minutes * 60
    first_limited = time.time()
    assert len(delta_sharing.load_as_pandas(url, limit=10)) == 10
    hint = json.dumps({"op": "greaterThanOrEqual", "children": [
        {"op": "column", "name": "户编号", "valueType": "string"},
        {"op": "literal", "value": "52010000002500", "valueType": "string"}]})
    hinted = delta_sharing.load_as_pandas(url, jsonPredicateHints=hint)
    assert len(hinted) == FILE_ROWS  # only the last file was sent: best effort, the rows are not filtered
    assert set(original["户编号"][original["户编号"] >= "52010000002500"]) <= set(hinted["户编号"])
    assert delta_sharing.get_table_version(url) == 0
    assert delta_sharing.get_table_metadata(url).format.provider == "parquet"

    # The protocol's answers as they travel.
    headers = {"Authorization": f"Bearer {_token}"}
    table = f"{base}/delta-sharing/shares/{share}/schemas/product/tables/data"
    head = httpx.head(f"{table}/version", headers=headers)
    assert head.status_code == 200
    assert head.headers["delta-table-version"] == "0"
    answer = httpx.post(f"{table}/query", headers=headers, json={"limitHint": 10})
    lines = [json.loads(line) for line in answer.text.splitlines()]
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    assert list(lines[0]) == ["protocol"]
    assert list(lines[1]) == ["metaData"]
    files = [x["file"] for x in lines[2:]]
    assert len(files) == 1
    # That answer lists the file the client's own query with a limit got: in the same window of the
    # URLs' lifetime it is the same report (its rows billed once), in the next a new one.
    same_window = int(first_limited) // window == int(time.time()) // window
    assert json.loads(files[0]["stats"])["numRecords"] == FILE_ROWS
    assert files[0]["expirationTimestamp"] > time.time() * 1000
    paged = httpx.get(f"{base}/delta-sharing/shares", headers=headers, params={"maxResults": 0}).json()
    assert paged["items"] == []
    assert paged["nextPageToken"]
    second = httpx.get(f"{base}/delta-sharing/shares", headers=headers,
                       params={"maxResults": 1, "pageToken": paged["nextPageToken"]}).json()
    assert [x["name"] for x in second["items"]] == [share]
    assert "nextPageToken" not in second
    # A pre-signed URL altered, or of another file, is refused; a good one serves byte ranges.
    good = files[0]["url"]
    assert httpx.get(good.replace("part-00000", "part-00001")).status_code == 403
    assert httpx.get(good[:-4] + ("0000" if not good.endswith("0000") else "1111")).status_code == 403
    ranged = httpx.get(good, headers={"Range": "bytes=0-3"})
    assert ranged.status_code == 206
    assert ranged.content == b"PAR1"
    assert httpx.get(good).status_code == 200  # fetched again whole: a file fetch reports nothing
    with isolated_database.unit_of_work(write=False) as db:
        queries = list(db.scalars(select(AuditEvent).where(AuditEvent.action == "delivery.sharing_query")))
        assert len(queries) >= 4
        assert all(q.target_id == str(trade["contract_id"]) for q in queries)
        assert {q.detail["usage"] for q in queries} == {"billed"}
        reports = db.scalars(select(UsageReport).where(UsageReport.contract_id == trade["contract_id"])
                             .order_by(UsageReport.id)).all()
        # The whole table (3 files), the first file (limit), the last file (the predicate hint) and,
        # in another window only, the first file again.
        assert [r.units for r in reports] == [ROWS, FILE_ROWS, FILE_ROWS] + ([] if same_window else [FILE_ROWS])
        assert all(r.report_id.startswith(f"sharing:{trade['contract_id']}:") for r in reports)
        [month] = bills.usage_so_far(db, trade["buyer"], trade["contract_id"])
        assert month.units == sum(r.units for r in reports)
        assert month.estimated_fen == month.units * 200 // 1000  # ¥2 per 1,000 rows


def test_versions_and_timestamps_read_the_registration_chain(live: tuple[str, Settings],
                                                            isolated_database: Database, tmp_path: Path) -> None:
    _base, settings = live
    trade = committed_contract(isolated_database, settings, tmp_path, "delta_sharing")
    newer = product_table(1_200, seed=9)
    digest, size = _put(settings, newer, tmp_path)
    changed_at = utcnow() - timedelta(days=1)
    with isolated_database.unit_of_work() as db:
        first = db.get(Registration, trade["registration_id"])
        assert first is not None
        first.status = "superseded"
        db.add(Registration(holder_org_id=first.holder_org_id, status="issued", reg_type="change",
                            previous_id=first.id, number=f"QS-DR-2026-{uuid.uuid4().int % 10**6:06d}",
                            title_zh="低收入家庭数据（变更）", title_en="Households (changed)", description_zh="",
                            description_en="", industry_code="G54", division_code="520102",
                            update_frequency="daily", classification="general", personal_info="none",
                            row_count=1_200, column_count=6, parquet_sha256=digest, parquet_size=size,
                            issued_at=changed_at))
    profile, _ = _profile(isolated_database, settings, trade, tmp_path)
    url = f"{profile}#{delta_tokens.share_name(trade['number'])}.product.data"
    assert delta_sharing.get_table_version(url) == 1
    assert len(delta_sharing.load_as_pandas(url)) == 1_200
    assert len(delta_sharing.load_as_pandas(url, version=0)) == ROWS
    before_change = (changed_at - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(delta_sharing.load_as_pandas(url, timestamp=before_change)) == ROWS
    after_change = (changed_at + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(delta_sharing.load_as_pandas(url, timestamp=after_change)) == 1_200
    assert delta_sharing.get_table_version(url, starting_timestamp=before_change) == 1


def test_revoked_expired_and_other_contracts_tokens_are_refused(live: tuple[str, Settings],
                                                                isolated_database: Database,
                                                                tmp_path: Path) -> None:
    base, settings = live
    mine = committed_contract(isolated_database, settings, tmp_path, "delta_sharing")
    theirs = committed_contract(isolated_database, settings, tmp_path, "delta_sharing")
    _p, token = _profile(isolated_database, settings, mine, tmp_path)
    _q, other_token = _profile(isolated_database, settings, theirs, tmp_path)
    share, other_share = delta_tokens.share_name(mine["number"]), delta_tokens.share_name(theirs["number"])

    def call(path: str, bearer: str | None, method: str = "GET", body: Any = None) -> httpx.Response:
        headers = ({"Authorization": bearer[6:]} if bearer.startswith("plain:") else
                   {"Authorization": f"Bearer {bearer}"}) if bearer is not None else {}
        return httpx.request(method, f"{base}/delta-sharing{path}", headers=headers, json=body)

    table = f"/shares/{share}/schemas/product/tables/data"
    assert call("/shares", token).status_code == 200
    for bearer in (None, "plain:Basic YWJjOmRlZg==", "plain:Bearer", "qsds_forged", "x" * 500, other_token[:-2] + "AA"):
        refused = call("/shares", bearer)
        assert refused.status_code == 401, bearer
        assert refused.json()["errorCode"] == "TOKEN_INVALID"
        assert "令牌" in refused.json()["message"]
        assert "token" in refused.json()["message"]
    # Another contract's share and table: as if they did not exist.
    for path in (f"/shares/{other_share}", f"/shares/{other_share}/schemas",
                 f"/shares/{other_share}/schemas/product/tables/data/metadata", f"/shares/{share}/schemas/x/tables",
                 f"/shares/{share}/schemas/product/tables/other/metadata"):
        assert call(path, token).status_code == 404, path
    assert call(f"/shares/{other_share}/schemas/product/tables/data/query", token, "POST", {}).status_code == 404
    # Bad input names its field, with no row of the data.
    for body, _name in (({"limitHint": -1}, "limitHint"), ({"limitHint": "ten"}, "limitHint"),
                       ({"limitHint": True}, "limitHint"), ({"version": 7}, "version"),
                       ({"version": 0, "timestamp": "2026-01-01T00:00:00Z"}, "version"),
                       ({"timestamp": "yesterday"}, "timestamp"), ({"timestamp": "2001-01-01T00:00:00Z"}, "timestamp"),
                       ({"jsonPredicateHints": {"op": "and"}}, "jsonPredicateHints"),
                       ({"startingVersion": 0}, "startingVersion"), ([1, 2], "body")):
        bad = call(f"{table}/query", token, "POST", body)
        assert bad.status_code == 400, (body, bad.text)
        assert "幸福路" not in bad.text
        assert "5201" not in bad.text
    assert call("/shares", token, body=None).status_code == 200
    garbage = httpx.post(f"{base}/delta-sharing{table}/query", headers={"Authorization": f"Bearer {token}"},
                         content=b"{not json")
    assert garbage.status_code == 400
    assert call("/shares?maxResults=-1", token).status_code == 400
    assert call("/shares?pageToken=zzz", token).status_code == 400
    # An unusable predicate is ignored (hints are best effort), never an error.
    assert call(f"{table}/query", token, "POST", {"jsonPredicateHints": "{nonsense"}).status_code == 200
    query = call(f"{table}/query", token, "POST", {})
    url = next(json.loads(x)["file"]["url"] for x in query.text.splitlines() if '"file"' in x)

    # Rotation: the old token and its file URLs stop working, the new one works.
    _r, rotated = _profile(isolated_database, settings, mine, tmp_path)
    assert call("/shares", token).status_code == 401
    assert httpx.get(url).status_code == 401
    assert call("/shares", rotated).status_code == 200
    # Expired.
    with isolated_database.unit_of_work() as db:
        row = db.scalar(select(SharingToken).where(SharingToken.token_sha256 == delta_tokens.token_hash(other_token)))
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
    assert call("/shares", other_token).status_code == 401
    # The contract ends: the token dies with it.
    with isolated_database.unit_of_work() as db:
        exchange_changes.operate(db, mine["operator"], mine["contract_id"],
                                 ChangeIn(kind="terminate", reason="测试终止"))
    ended = call("/shares", rotated)
    assert ended.status_code == 403
    assert ended.json()["errorCode"] == "CONTRACT_INACTIVE"
    # Tokens are kept only as hashes.
    with isolated_database.unit_of_work(write=False) as db:
        kept = [r.token_sha256 for r in db.scalars(select(SharingToken))]
    assert rotated not in kept
    assert delta_tokens.token_hash(rotated) in kept


def test_the_buyer_downloads_the_profile_from_the_portal(client: Any, db: Any, settings: Settings,
                                                         buyer: Any, merchant: Any, tmp_path: Path,
                                                         contract_of: Any) -> None:  # noqa: F811  # noqa: F811 - fixture
    from qianshu.accounts.models import User
    from tests.accounts.test_portal import csrf, sign_in

    contract = contract_of("delta_sharing")
    sign_in(client, db.get(User, buyer.user_id).email)
    page = client.get(f"/delivery/contracts/{contract.id}")
    assert page.status_code == 200
    assert 'id="new-token"' in page.text
    token = csrf(client, f"/delivery/contracts/{contract.id}")
    answer = client.post(f"/delivery/contracts/{contract.id}/sharing-token", data={"csrf_token": token})
    assert answer.status_code == 200
    assert "attachment" in answer.headers["content-disposition"]
    # The page's client call names the file just downloaded and this contract's table, ready to paste.
    file_name = answer.headers["content-disposition"].split('filename="')[1].rstrip('"')
    share = contract.number.lower().replace("-", "_")
    assert f'delta_sharing.load_as_pandas("{file_name}#{share}.product.data")' in page.text
    body = answer.json()
    assert body["shareCredentialsVersion"] == 1
    assert body["bearerToken"].startswith("qsds_")
    assert body["endpoint"].endswith("/delta-sharing")
    assert body["expirationTime"].endswith("Z")
    again = client.get(f"/delivery/contracts/{contract.id}")
    assert body["bearerToken"] not in again.text
    assert body["bearerToken"][:10] in again.text
    revoked = client.post(f"/delivery/contracts/{contract.id}/sharing-revoke", data={"csrf_token": token},
                          follow_redirects=False)
    assert revoked.status_code == 303
    with pytest.raises(NotAuthenticated):
        delta_tokens.authenticate(db, f"Bearer {body['bearerToken']}")
