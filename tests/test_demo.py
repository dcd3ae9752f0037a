"""``qianshu demo`` seeds a folder whose every claim holds, and a newcomer can register in it.

The README's demo command seeds a fresh folder once for this module (on the suite's database
server when ``QIANSHU_TEST_DATABASE_URL`` is set, else SQLite in the folder); the portal and
the API are then asked over HTTP, as a visitor would ask them:

- every registration shown as issued has its certificate, whose signature verifies, and a leaf
  of the public log, whose inclusion proof verifies against a signed tree head;
- every listed product has its sample, column profile and quality report;
- every certificate link on the public notices page answers;
- with the demo's short public notice, a newcomer goes from upload to certificate in one sitting,
  and the issue button is offered only once issuing would not be refused.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from qianshu import capabilities
from qianshu.catalog.models import Listing
from qianshu.core import jobs
from qianshu.core.db import Database
from qianshu.core.settings import Settings
from qianshu.demo import registrations
from qianshu.demo.ledger_seed import WALLETS
from qianshu.demo.seed import DEMO_NOTICE_MINUTES, DEMO_PASSWORD, seed_demo
from qianshu.ledger import books
from qianshu.ledger import service as ledger
from qianshu.ledger.models import LedgerAccount
from qianshu.registry.jobs import HANDLERS
from qianshu.registry.models import Certificate, ColumnProfile, QualityScore, Registration
from qianshu.registry.settings import RegistrySettings
from qianshu.translog import merkle
from qianshu.web.app import create_app

# the demo seeds on the suite's PostgreSQL server when there is one (its own fixture, below)
pytestmark = pytest.mark.database

SECRET = "demo-test-secret-" + "x" * 32
HISTORY = 240


@dataclass
class Demo:
    folder: Path
    database_url: str
    cpu_seconds: float
    wall_seconds: float
    history_cpu_seconds: float = 0.0

    def settings(self, **overrides: Any) -> Settings:
        return Settings(data_dir=self.folder, **overrides)


def _server_database(server: str) -> tuple[str, str]:
    name = f"qs_demo_{uuid.uuid4().hex[:12]}"
    admin = create_engine(make_url(server).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, make_url(server).set(database=name).render_as_string(hide_password=False)


def _drop(server: str, name: str) -> None:
    admin = create_engine(make_url(server).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("demo")
    server = os.environ.get("QIANSHU_TEST_DATABASE_URL")
    name, url = _server_database(server) if server else ("", "")
    lines = ['environment = "test"', f'secret_key = "{SECRET}"', "run_jobs_in_process = false"]
    if url:
        lines.append(f'database_url = "{url}"')
    # A short trading history (the demo's is HISTORY_CONTRACTS), made by its job as the worker would.
    lines += ["[exchange]", f"demo_history_contracts = {HISTORY}"]
    (folder / "qianshu.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = Settings(data_dir=folder)
    cpu, wall = time.process_time(), time.monotonic()
    assert seed_demo(settings)
    seeded = Demo(folder, settings.effective_database_url, time.process_time() - cpu, time.monotonic() - wall)
    print(f"demo seeding: {seeded.wall_seconds:.1f} s wall, {seeded.cpu_seconds:.1f} s processor")
    cpu = time.process_time()
    database = Database(seeded.database_url)
    history = {"exchange.demo_history": capabilities.job_handlers()["exchange.demo_history"]}
    assert jobs.run_pending(jobs.JobContext.build(database, settings), history) == 1
    database.dispose()
    seeded.history_cpu_seconds = time.process_time() - cpu
    print(f"demo history of {HISTORY} contracts: {seeded.history_cpu_seconds:.1f} s processor")
    yield seeded
    if server:
        _drop(server, name)


@pytest.fixture(scope="module")
def client(demo: Demo) -> Iterator[TestClient]:
    database = Database(demo.database_url)
    with TestClient(create_app(demo.settings(), database=database), base_url="http://testserver") as test_client:
        yield test_client
    database.dispose()


@pytest.fixture(scope="module")
def database(demo: Demo) -> Iterator[Database]:
    database = Database(demo.database_url)
    yield database
    database.dispose()


def test_seeding_stays_within_a_minute_of_processor_time(demo: Demo) -> None:
    # Processor time, not wall time: the machine is shared, but the work the demo asks for is its own.
    assert demo.cpu_seconds < 60, demo


def test_every_issued_registration_has_a_certificate_that_verifies_and_a_log_leaf(
        demo: Demo, database: Database, client: TestClient) -> None:
    with database.unit_of_work(write=False) as db:
        issued = list(db.scalars(select(Registration).where(Registration.status == "issued")))
        numbers = {r.id: r.number for r in issued}
        certs = {c.registration_id: c.number for c in db.scalars(select(Certificate))}
    assert len(issued) >= 40
    assert all(numbers[r] == certs.get(r) for r in numbers), "an issued registration without its certificate"
    head = client.get("/api/v1/log/sth").json()
    root = base64.b64decode(head["root_hash"])
    for number in numbers.values():
        signed = client.get(f"/api/v1/registrations/certificates/{number}")
        assert signed.status_code == 200, number
        checked = client.post("/api/v1/registrations/certificates/verify", content=signed.content,
                              headers={"Content-Type": "application/json"}).json()
        assert checked["valid"], checked
        assert checked["status"] == "valid", checked
        leaf = client.get(f"/api/v1/log/leaves/{checked['log_index']}").json()
        assert leaf["event"]["type"] == "registration.issued"
        assert leaf["event"]["payload"]["number"] == number
        assert base64.b64decode(leaf["leaf_hash"]) == merkle.leaf_hash(leaf["leaf"].encode("utf-8"))
        assert checked["tree_size"] == head["tree_size"]
        proof = [base64.b64decode(h) for h in checked["inclusion_proof"]]
        assert merkle.verify_inclusion(checked["log_index"], head["tree_size"], base64.b64decode(leaf["leaf_hash"]),
                                       proof, root), number


def test_every_listed_product_has_its_sample_profile_quality_report_and_certificate(
        demo: Demo, database: Database, client: TestClient) -> None:
    with database.unit_of_work(write=False) as db:
        listed = [(x.id, x.registration_id) for x in db.scalars(select(Listing).where(Listing.status == "listed"))]
        profiled = set(db.scalars(select(ColumnProfile.registration_id)))
        scored = set(db.scalars(select(QualityScore.registration_id)))
    assert len(listed) >= 40
    assert [reg for _id, reg in listed if reg not in profiled or reg not in scored] == []
    client.cookies.set("qs_lang", "en")
    try:
        for listing_id, _reg in listed:
            page = client.get(f"/catalog/{listing_id}")
            assert page.status_code == 200, listing_id
            for missing in ("No sample is available", "No profile available.", "No quality report yet.",
                            "No certificate."):
                assert missing not in page.text, (listing_id, missing)
            assert 'class="sample"' in page.text
    finally:
        client.cookies.delete("qs_lang")


def test_every_certificate_link_on_the_public_notices_page_answers(client: TestClient) -> None:
    page = client.get("/registry/notices")
    links = sorted(set(re.findall(r'href="(/registry/certificates/[^"]+)"', page.text)))
    assert len(links) >= 40
    assert [link for link in links if client.get(link).status_code != 200] == []


def test_the_demo_folder_keeps_a_short_public_notice(demo: Demo, client: TestClient) -> None:
    assert demo.settings().section(RegistrySettings).public_notice_minutes == DEMO_NOTICE_MINUTES
    assert Settings(data_dir=demo.folder).section(RegistrySettings).public_notice_minutes == DEMO_NOTICE_MINUTES
    client.cookies.set("qs_lang", "en")
    try:
        notices = client.get("/registry/notices").text
    finally:
        client.cookies.delete("qs_lang")
    assert f"the public notice lasts {DEMO_NOTICE_MINUTES} minutes here instead of 10 days" in notices


def _csrf(page_text: str) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', page_text)
    assert found is not None, page_text[:500]
    return found.group(1)


def _signed_in(app: Any, email: str) -> tuple[TestClient, str]:
    browser = TestClient(app, base_url="http://testserver")
    r = browser.post("/sign-in", data={"email": email, "password": DEMO_PASSWORD,
                                       "csrf_token": _csrf(browser.get("/sign-in").text)}, follow_redirects=False)
    assert r.status_code == 303, r.text[:500]
    return browser, _csrf(browser.get("/registry").text)


def test_a_newcomer_goes_from_upload_to_certificate_in_one_sitting(demo: Demo, tmp_path: Path) -> None:
    """Holder, reviewer and operator in turn, through the portal, with the demo's short notice
    (here a few seconds, so that the test need not wait the demo's two minutes)."""
    settings = demo.settings()
    settings.override(RegistrySettings, public_notice_minutes=0.05)
    database = Database(demo.database_url)
    app = create_app(settings, database=database)
    holder, holder_csrf = _signed_in(app, "merchant.weather@qianshu.demo")
    reviewer, reviewer_csrf = _signed_in(app, "reviewer@qianshu.demo")
    operator, operator_csrf = _signed_in(app, "operator@qianshu.demo")
    try:
        r = holder.post("/registry/new", data={"title_zh": "花溪区降水观测", "title_en": "Huaxi rainfall",
                                               "csrf_token": holder_csrf}, follow_redirects=False)
        assert r.status_code == 303
        reg_path = r.headers["location"]
        reg_id = int(reg_path.rsplit("/", 1)[1])
        data = tmp_path / "花溪区降水.csv"
        with data.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["日期", "行政区划代码", "降水量_mm"])
            writer.writerows([[f"2025-06-{d:02d}", "520111", d % 7 * 1.5] for d in range(1, 29)])
        r = holder.put(f"/api/v1/registrations/{reg_id}/files/{data.name}", content=data.read_bytes(),
                       headers={"X-CSRF-Token": holder_csrf, "Content-Type": "application/octet-stream"})
        assert r.status_code == 201, r.text
        assert holder.post(f"{reg_path}/process", data={"csrf_token": holder_csrf},
                           follow_redirects=False).status_code == 303
        jobs.run_pending(jobs.JobContext.build(database, settings), HANDLERS)  # the worker's part
        declaration = {"title_zh": "花溪区降水观测", "title_en": "Huaxi rainfall", "description_zh": "逐日降水量。",
                       "description_en": "Daily rainfall.", "industry_code": "M74", "division_code": "520111",
                       "time_coverage_start": "2025-06-01", "time_coverage_end": "2025-06-28",
                       "update_frequency": "daily", "source": "own_collection", "lawful_basis": "自有气象站观测。",
                       "rights": ["holding", "operation"], "csrf_token": holder_csrf}
        r = holder.post(f"{reg_path}/declaration", data=declaration, follow_redirects=False)
        assert r.status_code == 303, r.text[:2000]
        assert holder.post(f"{reg_path}/submit", data={"csrf_token": holder_csrf},
                           follow_redirects=False).status_code == 303
        for action, form in (("take", {}), ("approve", {"reason": "同意公示。"})):
            r = reviewer.post(f"{reg_path}/{action}", data={**form, "csrf_token": reviewer_csrf},
                              follow_redirects=False)
            assert r.status_code == 303, r.text[:2000]
        during = operator.get(reg_path).text
        assert 'id="notice-ends"' in during
        assert 'id="short-notice"' in during
        assert 'id="issue"' not in during, "the button is offered while issuing would be refused"
        deadline = time.monotonic() + 30
        while 'id="issue"' not in (page := operator.get(reg_path).text):
            assert time.monotonic() < deadline, "the short notice never ended"
            time.sleep(0.5)
        r = operator.post(f"{reg_path}/issue", data={"csrf_token": operator_csrf}, follow_redirects=False)
        assert r.status_code == 303, r.text[:2000]
        page = holder.get(reg_path).text
        number = re.search(r'href="/registry/certificates/(QS-DR-[0-9-]+)"', page)
        assert number is not None, page[:3000]
        assert holder.get(f"/registry/certificates/{number.group(1)}").status_code == 200
    finally:
        for browser in (holder, reviewer, operator):
            browser.close()
        database.dispose()


def test_the_demo_organisations_have_wallets_with_deposits_and_the_books_balance(database: Database) -> None:
    with database.unit_of_work(write=False) as db:
        operator = registrations.actor_of(db, "operator@qianshu.demo")
        # the bank's wallet: the exchange's demo trades move the buyer's money, never the bank's; the
        # bank is paid only by the forced sale at a fixed price (finance's seed), up to the debt
        bank = registrations.actor_of(db, "bank@qianshu.demo")
        statement = books.wallet_statement(db, bank, bank.org_id or 0, "zh")
        [repaid] = [line for line in statement.lines if line.kind != "deposit"]
        assert (repaid.kind, repaid.cause_type) == ("settlement", "forced_sale")
        assert 5_000_000_00 <= repaid.money_in_fen <= 20_000_000_00
        assert statement.balance_fen == {k: d for k, d, _w in WALLETS}["bank"] * 100 + repaid.money_in_fen
        assert [line.kind for line in statement.lines if line is not repaid] == ["deposit"]
        trial = books.trial_balance(db, operator, books.today(), "zh")
        assert trial.balanced
        assert trial.agrees_with_accounts
        assert sum(db.scalars(select(LedgerAccount.balance_fen))) == 0
        assert len(ledger.transfers_by_cause(db, "bank_transfer", "2026-11-00002")) == 1


def _seller_email(db: Any, org_id: int) -> str:
    from sqlalchemy import select

    from qianshu.accounts.models import User

    return str(db.scalar(select(User.email).where(User.org_id == org_id, User.org_role == "admin")
                         .order_by(User.id)))


def test_the_demo_buyer_has_trades_waiting(database: Database) -> None:
    """The exchange's seed: the demo buyer has a contract in force and paid, and work waiting."""
    from qianshu.demo.registrations import actor_of
    from qianshu.exchange import refunds
    from qianshu.exchange import service as exchange
    from qianshu.exchange import trades as exchange_trades
    from qianshu.finance import sale

    with database.unit_of_work(write=False) as db:
        buyer = actor_of(db, "buyer.logistics@qianshu.demo")
        trades = exchange_trades.my_trades(db, buyer)
        # (delivery's seed adds an API and a sandbox contract: test_the_demo_buyer_uses_the_data_api_and_sandbox)
        traded = [c for c in trades.contracts if c.delivery_mode not in ("api", "sandbox")]
        prepaid = [c for c in traded if c.status == "active" and c.plan_kind in exchange.PREPAID_KINDS]
        assert sorted(c.payment_status for c in prepaid) == ["escrowed", "settled"]
        assert any(c.status == "pending" for c in traded)
        # the settled one: the buyer asked for a fifth back; the request waits for the seller
        [settled] = [c for c in prepaid if c.payment_status == "settled"]
        [asked] = refunds.requests_of(db, settled)
        assert (asked.status, asked.amount_fen) == ("pending", settled.price_fen // 5)
        seller = actor_of(db, _seller_email(db, settled.seller_org_id))
        assert exchange_trades.next_steps(db, seller).refunds_to_answer == 1
        paid = sum(c.price_fen for c in trades.contracts if c.payment_status in ("escrowed", "settled"))
        wallet = books.wallet_statement(db, buyer, buyer.org_id or 0, "zh")
        # the buyer also bids in the demo's forced-sale auction (finance's seed): its bidding deposit,
        # its bid and the bid's repayment when outbid are the wallet's other lines
        bidding = [line for line in wallet.lines if line.cause_type == sale.CAUSE
                   or line.memo == "竞买保证金入金"]
        assert {line.kind for line in bidding} == {"deposit", "escrow", "refund"}
        trading = [line for line in wallet.lines if line not in bidding]
        kinds = [line.kind for line in trading]
        assert kinds[-2:] == ["escrow", "deposit"]
        assert set(kinds) <= {"escrow", "deposit", "usage", "fee"}
        used = sum(line.money_out_fen for line in trading if line.kind in ("usage", "fee"))
        net_bidding = sum(line.money_in_fen - line.money_out_fen for line in bidding)
        assert wallet.balance_fen == ({k: d for k, d, _w in WALLETS}["buyer_logistics"] * 100 - paid - used
                                      + net_bidding)
        steps = exchange_trades.next_steps(db, buyer)
        assert steps.contracts_to_sign == 1
        assert steps.quotes_to_decide == 1


def test_the_demo_buyer_has_a_download_link_and_a_delta_sharing_profile(database: Database, demo: Demo,
                                                                        client: TestClient) -> None:
    """The delivery seed: a metered download contract with a link issued (and last month's fetch
    billed: the bills page is not empty), and a Delta Sharing contract whose profile file (its token
    shown once) is in the data folder and authenticates."""
    from qianshu.core.timeutil import utcnow
    from qianshu.delivery import delta_tokens, links
    from qianshu.demo.registrations import actor_of
    from qianshu.exchange import payments
    from qianshu.exchange import trades as exchange_trades

    with database.unit_of_work(write=False) as db:
        buyer = actor_of(db, "buyer.logistics@qianshu.demo")
        active = {c.delivery_mode: c for c in exchange_trades.my_trades(db, buyer).contracts
                  if c.status == "active" and c.plan_kind == "per_1000_rows"}
        assert set(active) == {"download", "delta_sharing"}
        # One link fetched last month (its usage billed, below), one issued now and waiting.
        assert [link.fetches for link in links.links_of(db, active["download"].id)] == [0, 1]
        from qianshu.exchange import bills

        [bill] = bills.contract_bills(db, buyer, active["download"].id)
        assert bill.status == "paid"
        assert bill.units > 0
        assert bill.amount_fen > 0
        assert bill.period < payments.billing_period(utcnow())
        [running] = bills.usage_so_far(db, buyer, active["download"].id)
        assert (running.units, running.closed) == (0, False)
        share = delta_tokens.share_name(active["delta_sharing"].number)
        profile = json.loads((demo.folder / "demo" / f"{share}.share").read_text(encoding="utf-8"))
        assert profile["shareCredentialsVersion"] == 1
        grant = delta_tokens.authenticate(db, f"Bearer {profile['bearerToken']}")
        assert grant.contract_id == active["delta_sharing"].id
        # The seller allowed keyed decoy rows in the product's copies.
        from qianshu.delivery.models import WatermarkPolicyRow

        policy = db.get(WatermarkPolicyRow, active["download"].listing_id)
        assert policy is not None
        assert policy.decoys == 5
        number = active["download"].number
    browser, _token = _signed_in(client.app, "buyer.logistics@qianshu.demo")
    assert number in browser.get("/exchange/bills").text


def test_the_demo_bank_holds_a_book_of_pledges_the_lookup_shows(client: TestClient) -> None:
    bank, _csrf_token = _signed_in(client.app, "bank@qianshu.demo")
    book = bank.get("/finance/pledges")
    assert book.status_code == 200
    rows = re.findall(r"/finance/lookup\?number=(QS-DR-\d{4}-\d{6})", book.text)
    assert len(rows) >= 6
    status = bank.get(f"/api/v1/finance/certificates/{rows[0]}/status").json()
    assert status["encumbered"] is True
    pledges = status["pledges"]
    assert pledges, status  # the bank sees its own pledges
    assert all(5_000_000_00 <= p["secured_fen"] <= 20_000_000_00 for p in pledges)
    assert all(p["term_months"] <= 12 for p in pledges)
    assert all(e["proof"] is not None for p in pledges for e in p["events"])
    book_json = bank.get("/api/v1/finance/pledges").json()
    released = [p for p in book_json if p["status"] == "released"]
    assert len(released) == 1
    assert len([p for p in book_json if p["status"] == "enforced"]) == 1
    valued = [p for p in book_json if p["value_source"] == "valuation"]
    assert len(valued) == 1  # the demo appraiser's signed valuation carries the first pledge
    report = client.get(f"/api/v1/finance/valuations/{valued[0]['valuation_id']}").json()
    assert report["status"] == "signed"
    assert report["value_fen"] == valued[0]["appraised_fen"]


def test_the_demo_bank_sees_a_forced_sale_and_a_challenge_and_the_holder_its_books(client: TestClient) -> None:
    bank, _csrf_token = _signed_in(client.app, "bank@qianshu.demo")
    book_json = bank.get("/api/v1/finance/pledges").json()
    selling = [p for p in book_json if p["status"] == "selling"]
    assert len(selling) == 1
    offers = client.get("/api/v1/finance/forced-sales").json()
    assert [o["pledge_id"] for o in offers] == [selling[0]["id"]]
    assert offers[0]["price_fen"] > selling[0]["secured_fen"]
    assert selling[0]["certificate_number"] in bank.get("/finance/sales").text
    auction = client.get(f"/api/v1/finance/forced-sales/{offers[0]['id']}").json()  # an auction with two bids
    assert auction["kind"] == "auction"
    assert [b["status"] for b in auction["bids"]] == ["leading", "outbid"]
    assert auction["bids"][0]["amount_fen"] == auction["price_fen"] + 2 * auction["step_fen"]
    inbox = bank.get("/api/v1/inbox").json()
    texts = [n.get("text", "") for n in (inbox["items"] if isinstance(inbox, dict) else inbox)]
    assert any("提出异议" in t or "objection" in t for t in texts), texts
    holder, _csrf_token = _signed_in(client.app, "merchant.traffic@qianshu.demo")
    pack = holder.get("/api/v1/finance/accounting").json()
    classes = sorted(a["classification"] for a in pack["assets"] if a["cost_fen"])
    assert classes == ["intangible", "inventory"]
    first = next(a for a in pack["assets"] if a["classification"] == "intangible")
    # 120 + 45 + 38 + 6 + 4 + 0.5 万 capitalised; the appraisal's 8 万 expensed
    assert (first["cost_fen"], first["expensed_fen"]) == (2_135_000_00, 80_000_00)
    assert holder.get("/finance/accounting").status_code == 200


def test_the_demo_forced_sale_at_a_fixed_price_is_a_contract_of_both_parties(client: TestClient) -> None:
    """Finance's seed sells one defaulted loan's asset at a fixed price: the buyer and the former
    holder each find the asset transfer among their contracts, and its page links to the sale."""
    buyer, _csrf_token = _signed_in(client.app, "merchant.health@qianshu.demo")
    transfers = [c for c in buyer.get("/api/v1/exchange/trades").json()["contracts"]
                 if c["plan_kind"] == "forced_sale"]
    assert [(c["status"], c["payment_status"], c["plan_id"]) for c in transfers] == [("completed", "settled", None)]
    page = buyer.get(f"/exchange/contracts/{transfers[0]['id']}")
    assert page.status_code == 200
    assert "强制出售的资产转让" in page.text
    assert 'href="/finance/sales/' in page.text
    holder, _csrf_token = _signed_in(client.app, "merchant.traffic@qianshu.demo")
    sold = [c for c in holder.get("/api/v1/exchange/trades").json()["contracts"] if c["plan_kind"] == "forced_sale"]
    assert [c["number"] for c in sold] == [transfers[0]["number"]]


def test_the_demo_voucher_programme_has_a_season_of_history(client: TestClient, database: Database) -> None:
    """The vouchers' seed: a programme with the Gui'an providers, vouchers issued, orders settled and
    reimbursed over three months, a claim and an application waiting for the centre; and a data-voucher
    pilot whose seller's claim on a delivered exchange contract waits too."""
    admin, _csrf_token = _signed_in(client.app, "vouchers@qianshu.demo")
    found = client.get("/api/v1/vouchers/programmes").json()
    assert sorted(p["kind"] for p in found) == ["compute", "data"]
    programmes = [p for p in found if p["kind"] == "compute"]
    assert 0 < programmes[0]["committed_fen"] <= programmes[0]["budget_fen"]
    pilot = next(p for p in found if p["kind"] == "data")
    assert pilot["reimbursed_fen"] == 0  # the seller's claim waits: nothing left the budget at payment
    assert admin.get(f"/vouchers/programmes/{pilot['id']}").text.count('value="approve"') == 1
    directory = client.get("/api/v1/vouchers/directory").json()
    assert len(directory["providers"]) == 5
    board = client.get("/api/v1/vouchers/dashboard").json()
    assert len(board["series"]["by_month"]) == 4
    assert board["reimbursed_fen"] > 0
    assert board["card_hours"] > 0
    page = admin.get(f"/vouchers/programmes/{programmes[0]['id']}")
    assert page.status_code == 200
    assert page.text.count('value="approve"') == 2
    assert client.get("/vouchers/dashboard").text.count("<svg") == 5
    weather, _token = _signed_in(client.app, "merchant.weather@qianshu.demo")
    with database.unit_of_work(write=False) as db:
        weather_org = registrations.actor_of(db, "merchant.weather@qianshu.demo").org_id
    # the weather company buys in the pilot; the trading history also has it selling, and the
    # history's latest contracts may wait for their buyers' payment on any day
    unpaid = [c for c in weather.get("/api/v1/exchange/trades").json()["contracts"]
              if c["status"] == "active" and c["payment_status"] == "unpaid" and c["price_fen"] > 0
              and c["buyer_org_id"] == weather_org]
    assert unpaid, "the weather company's second pilot contract"
    latest = max(c["id"] for c in unpaid)  # the vouchers' seed comes after the exchange's
    assert 'id="voucher-pay"' in weather.get(f"/exchange/contracts/{latest}").text


def test_the_demo_has_two_years_of_trading_history_made_through_the_services(
        demo: Demo, database: Database, client: TestClient) -> None:
    """The history job's trades: back-dated, seasonal, with refunds and decided disputes, each
    with its timeline, its ledger transfers and its public-log leaves; the books balance."""
    from collections import Counter
    from datetime import datetime, timedelta

    from sqlalchemy import func

    from qianshu.core.inbox import Notification
    from qianshu.core.jobs import Job
    from qianshu.core.timeutil import SHANGHAI, as_utc, utcnow
    from qianshu.demo.exchange_history import BUYERS, SPRING_FESTIVAL, seed_history
    from qianshu.exchange.models import Contract, Dispute, Order, TimelineEntry
    from qianshu.ledger.models import LedgerTransfer

    assert demo.history_cpu_seconds < 30, demo
    with database.unit_of_work(write=False) as db:
        job = db.scalar(select(Job).where(Job.kind == "exchange.demo_history"))
        assert job is not None
        assert job.status == "succeeded"
        emails = [f"{key.replace('_', '.')}@qianshu.demo" for key, *_ in BUYERS]
        buyers = {registrations.actor_of(db, e).org_id for e in emails}
        signed = list(db.scalars(select(Contract).where(Contract.buyer_org_id.in_(buyers),
                                                        Contract.starts_at.is_not(None))))
        assert len(signed) >= HISTORY * 0.9
        months = Counter(c.starts_at.strftime("%Y-%m") for c in signed if c.starts_at is not None)
        assert len(months) >= 20
        oldest = min(as_utc(c.starts_at) for c in signed if c.starts_at is not None)
        assert (utcnow() - oldest).days > 600
        # every step was dated by the services' clock: order, signatures, money, timeline
        for contract in signed[:50]:
            order = db.get_one(Order, contract.order_id)
            assert as_utc(order.created_at) <= as_utc(contract.starts_at)
            assert contract.number.startswith(f"QS-TC-{contract.starts_at.year}-")
            assert all(s.log_index is not None for s in contract.signatures)
            steps = list(db.scalars(select(TimelineEntry.at).where(TimelineEntry.order_id == order.id)))
            assert max(as_utc(at) for at in steps) < utcnow()
            money = ledger.transfers_by_cause(db, "contract", contract.id)
            if contract.payment_status == "settled":
                assert {t.kind for t in money} >= {"escrow", "settlement", "fee"}
                assert all(as_utc(t.created_at) <= as_utc(contract.settled_at) for t in money)
        assert any(c.refunded_fen for c in signed)
        decisions = set(db.scalars(select(Dispute.decision).join(Contract, Contract.id == Dispute.contract_id)
                                   .where(Contract.buyer_org_id.in_(buyers))))
        assert decisions == {"release", "refund", "partial_refund"}
        assert sum(db.scalars(select(LedgerAccount.balance_fen))) == 0
        assert all(b >= 0 for b in db.scalars(select(LedgerAccount.balance_fen)
                                               .where(LedgerAccount.owner_org_id.in_(buyers))))
        assert db.scalar(select(LedgerTransfer.id).where(LedgerTransfer.kind == "deposit",
                                                         LedgerTransfer.created_at < oldest)) is not None
        # the history's notifications are marked read; the demo buyer's own trades' are not
        unread = db.scalars(select(Notification.subject_id).where(
            Notification.subject_type == "contract", Notification.read_at.is_(None),
            Notification.subject_id.in_([c.id for c in signed])))
        assert list(unread) == []
        # the season: the last Spring Festival's month is far quieter than the December before it
        ordered = Counter(as_utc(at).astimezone(SHANGHAI).strftime("%Y-%m") for at in db.scalars(
            select(Order.created_at).where(Order.buyer_org_id.in_(buyers))))
    # a second run of the job (a worker stopped and another took the job back) resumes: here, with
    # everything made, it makes nothing more and books no deposit twice
    again = seed_history(database, int(job.payload["contracts"]), now=datetime.fromisoformat(job.payload["now"]))
    assert (again.contracts, again.deposits) == (0, 0)
    with database.unit_of_work(write=False) as db:
        assert db.scalar(select(func.count(Contract.id)).where(Contract.buyer_org_id.in_(buyers),
                                                               Contract.starts_at.is_not(None))) == len(signed)
    festival = max(d for d in SPRING_FESTIVAL.values() if d < (utcnow() - timedelta(days=40)).date())
    assert ordered[festival.strftime("%Y-%m")] * 2 < ordered[f"{festival.year - 1}-12"], ordered
    figures = client.get("/api/v1/exchange/statistics").json()
    assert figures["transactions"] >= len(signed)
    page = client.get("/statistics")
    assert page.status_code == 200

def test_the_demo_buyer_uses_the_data_api_and_sandbox(database: Database) -> None:
    """Delivery's seed: the demo buyer read pages through the data API (reported as usage, billed
    when the month ends) and asked
    the sandbox questions (one refused), which both parties see on the contract pages."""
    from qianshu.delivery import data_api, sandbox_service
    from qianshu.demo.registrations import actor_of
    from qianshu.exchange import contracts as exchange_contracts
    from qianshu.exchange import trades as exchange_trades

    with database.unit_of_work(write=False) as db:
        buyer = actor_of(db, "buyer.logistics@qianshu.demo")
        contracts = {c.delivery_mode: c for c in exchange_trades.my_trades(db, buyer).contracts
                     if c.delivery_mode in ("api", "sandbox")}
        assert exchange_contracts.contract_is_active(db, contracts["api"].id, "api")
        [usage] = data_api.usage_of(db, contracts["api"].id)
        assert usage.calls == 2
        assert usage.reported_at is not None
        assert usage.units == 2
        steps = [e.step for e in exchange_trades.timeline(db, buyer, contracts["api"].order_id)]
        assert "usage_reported" in steps  # billed with the month's other usage once the month is over
        from qianshu.delivery import limits
        from qianshu.delivery.settings import DeliverySettings

        chosen = limits.limits_of(db, DeliverySettings(), contracts["api"].id)  # set by the seller
        assert (chosen.set_by_seller, chosen.rate_per_minute, chosen.quota_period) == (True, 60, "month")
        outcomes = [q.outcome for q in sandbox_service.query_log(db, contracts["sandbox"].id)]
        assert outcomes == ["refused", "answered"]  # newest first

def test_the_demo_departments_share_data_and_one_request_is_overdue(client: TestClient) -> None:
    civil, _csrf = _signed_in(client.app, "civilaffairs@qianshu.demo")
    catalogue = civil.get("/sharing")
    assert catalogue.status_code == 200
    assert "贵州省公安厅" in catalogue.text
    assert len(re.findall(r'href="/sharing/resources/\d+"', catalogue.text)) >= 12
    mine = civil.get("/api/v1/sharing/requests?box=mine").json()
    assert any(r["overdue"] and r["status"] == "pending" for r in mine)
    bureau, _csrf = _signed_in(client.app, "government@qianshu.demo")
    everything = bureau.get("/api/v1/sharing/requests?box=all").json()
    assert {r["status"] for r in everything} >= {"approved", "narrowed", "rejected", "granted", "pending"}
    # a Guizhou department writes in Chinese: no English half in a purpose or a reason the portal shows
    words = [r[k] for r in everything for k in ("purpose", "reason", "end_reason") if r[k]]
    assert words
    assert [w for w in words if re.search("[A-Za-z]", w)] == []
    overdue = next(r for r in everything if r["overdue"])
    # unread: the bureau also sells on the exchange, and the trading history fills its inbox (read)
    notes = bureau.get("/api/v1/inbox?unread=true").json()
    assert any(f"#{overdue['id']}" in str(n) for n in notes)
    owner, _csrf = _signed_in(client.app, "civilaffairs@qianshu.demo")
    log = owner.get("/sharing/accesses")
    assert log.status_code == 200
    assert "贵州省农业农村厅" in log.text
    english = owner.get("/sharing/requests?box=incoming", headers={"Accept-Language": "en"})
    assert english.status_code == 200


def test_the_demo_county_receives_its_civil_affairs_feed_through_sharing(client: TestClient,
                                                                         database: Database) -> None:
    """Danzhai's civil-affairs feed came through the civil affairs department's grant, not as a file:
    the caseworker's feeds page says so (with the request), the department sees the access, the run
    read that version."""
    from qianshu.monitoring.models import MonitoringRun

    county, _csrf = _signed_in(client.app, "county.caseworker@qianshu.demo")
    versions = county.get("/api/v1/monitoring/feeds?feed=civil_affairs&division=522636").json()
    assert [(v["via"], v["version"]) for v in versions] == [("sharing", 1)]
    assert versions[0]["accepted"] > 0
    request_id = versions[0]["sharing_request_id"]
    page = county.get("/monitoring/feeds")
    assert f'href="/sharing/requests/{request_id}"' in page.text
    assert "数据共享" in page.text
    from qianshu.core.i18n import LANG_COOKIE

    county.cookies.set(LANG_COOKIE, "en")
    assert "Data sharing" in county.get("/monitoring/feeds").text
    others = county.get("/api/v1/monitoring/feeds?feed=housing&division=522636").json()
    assert [v["via"] for v in others] == ["upload"]
    owner, _csrf = _signed_in(client.app, "civilaffairs@qianshu.demo")
    log = owner.get("/api/v1/sharing/accesses").json()
    assert any(a["kind"] == "feed" and a["request_id"] == request_id for a in log)
    assert "数据推送" in owner.get("/sharing/accesses").text
    with database.unit_of_work(write=False) as db:
        from sqlalchemy import select

        run = db.scalars(select(MonitoringRun).where(MonitoringRun.division_code == "522636")).one()
        assert versions[0]["id"] in run.feed_version_ids


def test_the_demo_bureau_has_an_appeal_in_part_to_decide(client: TestClient) -> None:
    """The agriculture department appealed, of the two fields the narrowing left out, only one, for the
    whole year; the bureau sees the appeal and the form that decides it, offering that one field."""
    bureau, _csrf = _signed_in(client.app, "government@qianshu.demo")
    narrowed = [r for r in bureau.get("/api/v1/sharing/requests?box=all").json() if r["status"] == "narrowed"]
    appealed = [d for d in (bureau.get(f"/api/v1/sharing/requests/{r['id']}").json() for r in narrowed)
                if d["appeal"] and d["appeal"]["status"] == "pending"]
    assert len(appealed) == 1
    request = appealed[0]
    assert request["granted_fields"] == ["resident_id", "out_of_pocket_fen"]
    left_out = set(request["fields"]) - set(request["granted_fields"])
    appeal = request["appeal"]
    assert appeal["fields"] == ["claim_date"]
    assert len(left_out) == 2  # appealed in part: not all that was left out
    assert (appeal["period_start"], appeal["period_end"]) == (request["period_start"], request["period_end"])
    page = bureau.get(f"/sharing/requests/{request['id']}").text
    assert 'name="decision" value="grant_part"' in page
    assert 'name="fields" value="claim_date"' in page
    assert 'name="fields" value="total_cost_fen"' not in page
    listed = bureau.get("/sharing/requests?box=all").text  # the supervision list says which appeal waits
    assert re.search(rf'id="appeal-of-{request["id"]}"><strong>申诉：待处理</strong>', listed)
