"""The ledger's REST API and pages as clients use them: idempotent deposits and withdrawals, bad
input refused in both languages naming the field, statements exported and read back, the books."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from qianshu.core.idempotency import IdempotencyKey
from qianshu.core.timeutil import SHANGHAI, utcnow
from qianshu.ledger import service
from qianshu.ledger.models import LedgerAccount, LedgerTransfer
from tests.factories import Factories


def _count(db) -> int:  # type: ignore[no-untyped-def]
    return int(db.scalar(select(func.count()).select_from(LedgerTransfer)))


@pytest.fixture
def staff(make: Factories, bearer):  # type: ignore[no-untyped-def]
    return bearer(make.operator())


def test_a_repeated_deposit_returns_the_first_result_and_moves_nothing(client, db, make: Factories, staff) -> None:
    org = make.org()
    body = {"org_id": org.id, "amount_fen": 250_000, "bank_reference": "ICBC-1"}
    first = client.post("/api/v1/ledger/deposits", json=body, headers={**staff, "Idempotency-Key": "k-1"})
    assert first.status_code == 201, first.text
    assert first.headers["Idempotent-Replayed"] == "false"
    again = client.post("/api/v1/ledger/deposits", json=body, headers={**staff, "Idempotency-Key": "k-1"})
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert _count(db) == 1
    assert service.balance(db, service.wallet_of(db, org.id)) == 250_000
    wallet = client.get(f"/api/v1/ledger/wallets/{org.id}", headers=staff).json()
    assert wallet["balance_fen"] == 250_000


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_same_key_with_a_different_body_is_a_409_naming_the_header(client, db, make: Factories, staff,
                                                                         lang: str) -> None:
    org = make.org()
    headers = {**staff, "Idempotency-Key": "k-2", "Accept-Language": lang}
    assert client.post("/api/v1/ledger/deposits", json={"org_id": org.id, "amount_fen": 100, "bank_reference": "R-1"},
                       headers=headers).status_code == 201
    refused = client.post("/api/v1/ledger/deposits", json={"org_id": org.id, "amount_fen": 999,
                                                           "bank_reference": "R-1"}, headers=headers)
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["code"] == "idempotency_key_reused"
    assert problem["field"] == "Idempotency-Key"
    assert ("不同的请求" if lang == "zh" else "different request") in problem["detail"]
    assert service.balance(db, service.wallet_of(db, org.id)) == 100


def test_a_key_is_needed_and_forgotten_when_it_expires(client, db, make: Factories, staff) -> None:
    org = make.org()
    body = {"org_id": org.id, "amount_fen": 100, "bank_reference": "E-1"}
    missing = client.post("/api/v1/ledger/deposits", json=body, headers=staff)
    assert missing.status_code == 422
    assert missing.json()["field"] == "Idempotency-Key"
    assert _count(db) == 0
    first = client.post("/api/v1/ledger/deposits", json=body, headers={**staff, "Idempotency-Key": "e"})
    assert first.status_code == 201
    key = db.scalar(select(IdempotencyKey).where(IdempotencyKey.key == "e"))
    key.expires_at = utcnow() - timedelta(seconds=1)
    db.flush()
    # Expired: the request executes afresh (and the bank reference, booked already, is refused).
    again = client.post("/api/v1/ledger/deposits", json=body, headers={**staff, "Idempotency-Key": "e"})
    assert again.status_code == 409
    assert again.json()["code"] == "bank_reference_used"


@pytest.mark.parametrize(("amount", "code"), [
    (-100, "invalid_amount"), (0, "invalid_amount"), (12.5, "invalid_amount"), ("一百", "invalid_amount"),
    (2**63, "invalid_input"), (10**16, "invalid_amount"),
])
def test_bad_amounts_get_a_bilingual_422_naming_the_field_and_move_nothing(client, db, make: Factories, staff,
                                                                           amount: object, code: str) -> None:
    org = make.org()
    for lang in ("zh", "en"):
        r = client.post("/api/v1/ledger/deposits", json={"org_id": org.id, "amount_fen": amount, "bank_reference": "B"},
                        headers={**staff, "Idempotency-Key": f"bad-{lang}", "Accept-Language": lang})
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "amount_fen"
        assert r.json()["code"] == code
        assert bool(re.search("[\u4e00-\u9fff]", r.json()["detail"])) == (lang == "zh")
    assert _count(db) == 0


def test_a_withdrawal_above_the_balance_and_an_unknown_organisation_are_refused(client, db, make: Factories,
                                                                                 staff) -> None:
    org = make.org()
    client.post("/api/v1/ledger/deposits", json={"org_id": org.id, "amount_fen": 5_000, "bank_reference": "D"},
                headers={**staff, "Idempotency-Key": "d"})
    over = client.post("/api/v1/ledger/withdrawals", json={"org_id": org.id, "amount_fen": 5_001,
                                                           "bank_reference": "W"},
                       headers={**staff, "Idempotency-Key": "w", "Accept-Language": "en"})
    assert over.status_code == 422
    assert over.json()["code"] == "insufficient_funds"
    assert over.json()["field"] == "amount_fen"
    # The refusal is the key's first result: a repeat gets it again, even after money came in.
    service.deposit(db, make.actor(make.operator()), org_id=org.id, amount_fen=1, bank_reference="D2")
    repeat = client.post("/api/v1/ledger/withdrawals", json={"org_id": org.id, "amount_fen": 5_001,
                                                             "bank_reference": "W"},
                         headers={**staff, "Idempotency-Key": "w", "Accept-Language": "en"})
    assert repeat.status_code == 422
    assert repeat.headers["Idempotent-Replayed"] == "true"
    unknown = client.post("/api/v1/ledger/deposits", json={"org_id": 99_999_999, "amount_fen": 1,
                                                           "bank_reference": "U"},
                          headers={**staff, "Idempotency-Key": "u", "Accept-Language": "zh"})
    assert unknown.status_code == 404
    assert unknown.json()["field"] == "org_id"
    assert "不存在" in unknown.json()["detail"]
    assert service.balance(db, service.wallet_of(db, org.id)) == 5_001


def test_statements_export_as_csv_and_xlsx_that_open(client, db, make: Factories, staff, bearer) -> None:
    org = make.org(name="贵州黔运物流股份有限公司")
    admin = make.user(organisation=org, org_role="admin")
    operator = make.actor(make.operator())
    service.deposit(db, operator, org_id=org.id, amount_fen=123_456, bank_reference="S-1", memo="首次入金")
    service.withdraw(db, operator, org_id=org.id, amount_fen=23_456, bank_reference="S-2")
    own = bearer(admin)
    body = client.get(f"/api/v1/ledger/wallets/{org.id}/statement", headers=own).json()
    assert [line["kind"] for line in body["lines"]] == ["withdrawal", "deposit"]
    assert [line["balance_fen"] for line in body["lines"]] == [100_000, 123_456]
    assert body["total_in_fen"] == 123_456
    assert body["total_out_fen"] == 23_456
    r = client.get(f"/api/v1/ledger/wallets/{org.id}/statement?format=csv", headers={**own, "Accept-Language": "zh"})
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][6] == "收入（元）"
    assert rows[2][6] == "1234.56"
    assert rows[2][4] == "首次入金"
    assert rows[1][8] == "1000.00"
    x = client.get(f"/api/v1/ledger/wallets/{org.id}/statement?format=xlsx&kind=deposit", headers=own)
    assert x.status_code == 200
    sheet = load_workbook(io.BytesIO(x.content)).active
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[1][1] == pytest.approx(1000.00)
    assert len(values) == 5  # account, balance, blank, header, the one deposit
    assert values[4][6] == pytest.approx(1234.56)
    day = utcnow().astimezone(SHANGHAI).date()
    empty = client.get(f"/api/v1/ledger/wallets/{org.id}/statement?date_to={day - timedelta(days=1)}", headers=own)
    assert empty.json()["lines"] == []
    bad = client.get(f"/api/v1/ledger/wallets/{org.id}/statement?date_from=yesterday", headers=own)
    assert bad.status_code == 422
    assert bad.json()["field"] == "date_from"
    # Another organisation's administrator is told the wallet does not exist.
    stranger = bearer(make.user(org_role="admin"))
    assert client.get(f"/api/v1/ledger/wallets/{org.id}/statement", headers=stranger).status_code == 404


def test_the_trial_balance_balances_for_any_day_and_fees_are_counted_per_month(client, db, make: Factories,
                                                                                staff) -> None:
    buyer, seller = make.org(), make.org()
    operator = make.actor(make.operator())
    service.deposit(db, operator, org_id=buyer.id, amount_fen=1_000_000, bank_reference="T-1")
    escrow = service.open_account(db, kind="escrow", owner_org_id=buyer.id, reference="c-1")
    service.transfer(db, operator, debit=service.wallet_of(db, buyer.id), credit=escrow, amount_fen=400_000,
                     kind="escrow", cause=("contract", 1))
    service.transfers(db, operator, [
        service.Leg(escrow, service.wallet_of(db, seller.id), 390_000, "settlement", ("contract", 1)),
        service.Leg(escrow, service.fee_account(db), 10_000, "fee", ("contract", 1)),
    ])
    service.transfer(db, operator, debit=service.fee_account(db), credit=service.wallet_of(db, buyer.id),
                     amount_fen=1_000, kind="fee_refund", cause=("contract", 1))
    today = utcnow().astimezone(SHANGHAI).date()
    report = client.get(f"/api/v1/ledger/trial-balance?date={today}", headers=staff).json()
    assert report["balanced"] is True
    assert report["agrees_with_accounts"] is True
    assert report["total_debit_fen"] == report["total_credit_fen"]
    assert report["total_debit_fen"] >= 1_000_000
    assert sum(report["by_kind"].values()) == 0
    before = client.get(f"/api/v1/ledger/trial-balance?date={today - timedelta(days=1)}", headers=staff).json()
    assert before["balanced"] is True
    assert all(r["code"] != f"escrow:{buyer.id}:c-1" for r in before["rows"])
    assert db.scalar(select(func.sum(LedgerAccount.balance_fen))) == 0
    fees = client.get("/api/v1/ledger/fees", headers=staff).json()
    month = next(m for m in fees if m["month"] == today.strftime("%Y-%m"))
    assert month["earned_fen"] >= 10_000
    assert month["returned_fen"] >= 1_000
    assert month["net_fen"] == month["earned_fen"] - month["returned_fen"]


def _portal(client, db, settings, user) -> str:  # type: ignore[no-untyped-def]
    from qianshu.accounts import service as accounts

    raw = accounts.start_session(db, settings, user, "127.0.0.1", "test")
    db.flush()
    client.cookies.set("qs_session", raw)
    page = client.get("/")
    return re.search(r'name="csrf-token" content="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]


def test_an_operator_records_a_deposit_once_in_the_portal_and_the_organisation_sees_it(
        client, db, make: Factories, settings) -> None:
    org = make.org(name="黔运物流测试")
    operator = make.operator()
    token = _portal(client, db, settings, operator)
    books = client.get("/operator/books")
    assert books.status_code == 200
    form_key = re.search(r'name="form_key" value="([0-9a-f]+-deposit)"', books.text).group(1)  # type: ignore[union-attr]
    form = {"csrf_token": token, "form_key": form_key, "org_id": str(org.id), "amount": "2,000,000.50",
            "bank_reference": "CCB-77", "memo": ""}
    for _ in range(2):  # a double click
        r = client.post("/operator/books/deposit", data=form, follow_redirects=False)
        assert r.status_code == 303
    assert service.balance(db, service.wallet_of(db, org.id)) == 200_000_050
    bad = client.post("/operator/books/withdrawal", data={**form, "form_key": "other", "amount": "-1"})
    assert bad.status_code == 422
    assert "amount" in bad.text
    books = client.get("/operator/books")
    assert 'data-balanced="true"' in books.text
    assert "¥200万" in books.text  # the deposit in the trial balance, in 万
    client.cookies.clear()
    _portal(client, db, settings, make.user(organisation=org, org_role="admin"))
    wallet = client.get("/wallet")
    assert wallet.status_code == 200
    assert 'data-balance="200000050"' in wallet.text
    assert "CCB-77" in wallet.text
    assert client.get("/operator/books").status_code == 403


def test_an_auditor_sees_the_books_without_the_forms_an_operator_records_with(
        client, db, make: Factories, settings) -> None:
    org = make.org(name="黔运物流审计")
    token = _portal(client, db, settings, make.operator(staff_role="auditor"))
    books = client.get("/operator/books")
    assert books.status_code == 200
    assert "trial-balance" in books.text
    assert 'id="deposit-form"' not in books.text
    assert 'id="withdrawal-form"' not in books.text
    form = {"csrf_token": token, "form_key": "k-deposit", "org_id": str(org.id), "amount": "1",
            "bank_reference": "ICBC-1"}
    assert client.post("/operator/books/deposit", data=form, follow_redirects=False).status_code == 403
    assert service.balance(db, service.wallet_of(db, org.id)) == 0
