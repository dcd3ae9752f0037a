"""Joint discipline on the paid side: no voucher money goes to a provider with a broken-trust record
in force, whichever administrator made it. Its claims are neither filed nor approved, and new
orders of its compute are refused (bilingual 409 ``broken_trust`` naming the record); the claim is
held, not lost: once the record is lifted it is filed and approved. A refusal under an
Idempotency-Key stays the key's answer, and says that a retry needs a new key. A company's record
does not stop the reimbursement of an order placed before it. An approval and a record at the same
moment (real commits, over HTTP) end one way or the other."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.accounts.models import User
from qianshu.accounts.schemas import TokenIn
from qianshu.core.actor import Actor
from qianshu.core.blobs import open_blob_store
from qianshu.core.db import Database
from qianshu.core.errors import Conflict
from qianshu.core.i18n import LANG_COOKIE
from qianshu.core.settings import Settings
from qianshu.exchange import payments
from qianshu.ledger import service as ledger
from qianshu.ledger.models import LedgerAccount
from qianshu.vouchers import data_vouchers, redemption, schemas, trust
from qianshu.vouchers.models import BrokenTrust, ComputeOrder, Programme, Reimbursement
from qianshu.web.app import create_app
from tests.catalog.conftest import buyer, listed, merchant, operator, registration  # noqa: F401 - fixtures
from tests.exchange.conftest import fund, order, signed  # noqa: F401 - fixtures
from tests.factories import Factories
from tests.vouchers.conftest import EVIDENCE, World, build_world, issue
from tests.vouchers.test_api_pages import _sign_in
from tests.vouchers.test_concurrency import _at_once
from tests.vouchers.test_contract_pay_form import Ready, ready  # noqa: F401 - fixture
from tests.vouchers.test_trust_records import _uscc
from tests.vouchers.test_trust_scope import _second_programme
from tests.vouchers.test_trust_spending import RECORD, _left, _order_body
from tests.web.live import live_server

CLAIM = {"invoice_number": "52000001", "delivery_proof_base64": EVIDENCE}


def _settled_order(client: Any, headers: dict[str, str], provider: dict[str, str], world: World,
                   vouchers: list[int], key: str) -> int:
    """An order of the company, paid with its vouchers and settled by the provider: its claim is due."""
    placed = client.post(f"/api/v1/vouchers/programmes/{world.programme_id}/orders", json=_order_body(world, vouchers),
                        headers={**headers, "Idempotency-Key": key})
    assert placed.status_code == 201, placed.text
    used = client.post(f"/api/v1/vouchers/orders/{placed.json()['id']}/usage", headers={
        **provider, "Idempotency-Key": f"usage-{key}"}, json={
        "used_card_hours": 100, "evidence_name": "m.csv", "evidence_base64": EVIDENCE})
    assert used.status_code == 200, used.text
    return int(placed.json()["id"])


def _wallet(db: Session, user: Any) -> int:
    db.expire_all()
    return ledger.wallet_of(db, user.org_id).balance_fen


def test_a_provider_with_a_record_is_not_paid_until_it_is_lifted(client, bearer, db, world: World, make) -> None:
    vouchers = issue(db, world, world.company)
    company, provider, admin = bearer(world.company), bearer(world.provider), bearer(world.admin)
    first = _settled_order(client, company, provider, world, vouchers, "before")
    stranger = make.user(organisation=make.org(org_type="voucher_administrator", name="遵义市大数据发展管理局",
                                              name_en="Zunyi Big Data Bureau"))
    elsewhere = _second_programme(db, world, stranger, "data", [make.org(org_type="data_merchant").id])
    record = f"/api/v1/vouchers/programmes/{elsewhere.id}/broken-trust"
    lift = f"{record}/lift"
    # another administrator records the provider (by USCC): binding in every administrator's programmes
    assert client.post(record, json={"org_id": _uscc(db, world.provider), **RECORD},
                       headers=bearer(stranger)).status_code == 201
    # the provider's claim is not filed
    for lang, words in (("zh", ("失信", "遵义市大数据发展管理局", "信用中国（贵州）", "不予兑付", "不会作废")),
                        ("en", ("broken-trust", "遵义市大数据发展管理局", "信用中国（贵州）", "reimburses",
                                "not lost"))):
        refused = client.post(f"/api/v1/vouchers/orders/{first}/reimbursement", json=CLAIM,
                              headers={**provider, "Accept-Language": lang})
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "broken_trust"
        assert all(w in refused.json()["detail"] for w in words), refused.json()["detail"]
    assert db.scalar(select(func.count(Reimbursement.id))) == 0
    # new orders of its compute are refused, nothing moved; the text says a retry needs a new key
    before, cash = _left(db, vouchers), _wallet(db, world.company)
    orders = f"/api/v1/vouchers/programmes/{world.programme_id}/orders"
    for lang, words in (("zh", ("该服务商", "失信", "新的 Idempotency-Key")),
                        ("en", ("The provider has a broken-trust record", "new Idempotency-Key"))):
        refused = client.post(orders, json=_order_body(world, vouchers),
                              headers={**company, "Accept-Language": lang, "Idempotency-Key": f"held-{lang}"})
        assert refused.status_code == 409
        assert (refused.json()["code"], refused.json()["field"]) == ("broken_trust", "offering_id")
        assert all(w in refused.json()["detail"] for w in words), refused.json()["detail"]
    assert (_left(db, vouchers), _wallet(db, world.company)) == (before, cash)
    assert db.scalar(select(func.count(ComputeOrder.id))) == 1
    # the provider's order page says why in place of the claim form, in its language
    _sign_in(client, db, world.provider)
    for lang, words in (("zh", ("不予兑付", "不作废", "遵义市大数据发展管理局")),
                        ("en", ("No voucher programme reimburses your organisation", "not lost",
                                "Zunyi Big Data Bureau"))):
        client.cookies.set(LANG_COOKIE, lang)
        page = client.get(f"/vouchers/orders/{first}").text
        notice = page[page.index('id="broken-trust-notice"'):][:2000]
        assert all(w in notice for w in words), notice
        assert 'id="claim-form"' not in page
        assert "cannot be spent" not in notice  # a provider holds no vouchers
        assert "不能使用" not in notice
    # lifted: the claim is filed; the same order's refusal stays its key's answer, a new key pays
    assert client.post(lift, json={"org_id": world.provider.org_id, "reason": "信用修复完成"},
                       headers=bearer(stranger)).json()["lifted"] is True
    replay = client.post(orders, json=_order_body(world, vouchers), headers={**company, "Idempotency-Key": "held-en"})
    assert (replay.status_code, replay.headers["Idempotent-Replayed"]) == (409, "true")
    assert client.post(orders, json=_order_body(world, vouchers),
                       headers={**company, "Idempotency-Key": "after-lift"}).status_code == 201
    client.cookies.clear()  # the API's answers below follow Accept-Language
    claim = client.post(f"/api/v1/vouchers/orders/{first}/reimbursement", json=CLAIM, headers=provider)
    assert claim.status_code == 201, claim.text
    claim_id, amount = claim.json()["id"], claim.json()["amount_fen"]
    # recorded again while the claim waits: the approval is refused, the claim stays pending
    assert client.post(record, json={"org_id": world.provider.org_id, **RECORD},
                       headers=bearer(stranger)).status_code == 201
    paid_before = _wallet(db, world.provider)
    decide = f"/api/v1/vouchers/claims/{claim_id}/decision"
    for lang, words in (("zh", ("该服务商", "保持待审", "新的 Idempotency-Key")),
                        ("en", ("stays pending", "approved once the record is lifted", "new Idempotency-Key"))):
        held = client.post(decide, json={"approve": True},
                           headers={**admin, "Accept-Language": lang, "Idempotency-Key": f"approve-{lang}"})
        assert held.status_code == 409, held.text
        assert (held.json()["code"], held.json()["field"]) == ("broken_trust", "claim_id")
        assert all(w in held.json()["detail"] for w in words), held.json()["detail"]
    db.expire_all()
    assert db.get_one(Reimbursement, claim_id).status == "pending"
    assert _wallet(db, world.provider) == paid_before
    # the administrator's programme page shows the claim held, with no approve button, in zh and en
    _sign_in(client, db, world.admin)
    for lang, word in (("zh", "暂缓"), ("en", "Held: the provider has a broken-trust record")):
        client.cookies.set(LANG_COOKIE, lang)
        page = client.get(f"/vouchers/programmes/{world.programme_id}").text
        row = page[page.index(f'id="claim-{claim_id}-held"'):][:1200]
        assert word in row, row
        assert ("遵义市大数据发展管理局" if lang == "zh" else "Zunyi Big Data Bureau") in row, row
        assert 'value="approve"' not in row.split("</tr>")[0]
        order_page = client.get(f"/vouchers/orders/{first}").text
        assert 'id="claims-held"' in order_page
    # lifted: the same key replays the refusal; a new key approves and the budget pays the provider
    assert client.post(lift, json={"org_id": world.provider.org_id, "reason": "信用修复完成"},
                       headers=bearer(stranger)).status_code == 200
    again = client.post(decide, json={"approve": True}, headers={**admin, "Idempotency-Key": "approve-en"})
    assert (again.status_code, again.headers["Idempotent-Replayed"]) == (409, "true")
    approved = client.post(decide, json={"approve": True}, headers={**admin, "Idempotency-Key": "approve-after"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert _wallet(db, world.provider) == paid_before + amount


def test_a_companys_record_does_not_stop_paying_for_an_order_placed_before_it(client, bearer, db,
                                                                               world: World) -> None:
    """Decision (docs/vouchers.md): the provider delivered in good faith what was ordered and paid
    before the company's record; the record stops the company's future spending, not the
    reimbursement of work already bought."""
    vouchers = issue(db, world, world.company)
    company, provider, admin = bearer(world.company), bearer(world.provider), bearer(world.admin)
    placed = client.post(f"/api/v1/vouchers/programmes/{world.programme_id}/orders",
                        json=_order_body(world, vouchers), headers={**company, "Idempotency-Key": "o-1"})
    assert placed.status_code == 201
    trust.record_broken_trust(db, world.actor(world.admin), world.programme_id, schemas.BrokenTrustIn(
        org_id=world.company.org_id, **RECORD))
    db.flush()
    order_id = placed.json()["id"]
    assert client.post(f"/api/v1/vouchers/orders/{order_id}/usage", headers={**provider, "Idempotency-Key": "u"},
                       json={"used_card_hours": 80, "evidence_name": "m.csv",
                             "evidence_base64": EVIDENCE}).status_code == 200
    claim = client.post(f"/api/v1/vouchers/orders/{order_id}/reimbursement", json=CLAIM, headers=provider)
    assert claim.status_code == 201, claim.text
    paid_before = _wallet(db, world.provider)
    approved = client.post(f"/api/v1/vouchers/claims/{claim.json()['id']}/decision", json={"approve": True},
                           headers={**admin, "Idempotency-Key": "a-1"})
    assert approved.status_code == 200, approved.text
    assert _wallet(db, world.provider) == paid_before + claim.json()["amount_fen"]
    # while the company's own spending stays refused
    refused = client.post(f"/api/v1/vouchers/programmes/{world.programme_id}/orders",
                          json=_order_body(world, vouchers), headers={**company, "Idempotency-Key": "o-2"})
    assert (refused.status_code, refused.json()["field"]) == (409, "voucher_ids")


def test_an_approval_and_a_record_of_its_provider_at_the_same_moment_end_one_way(isolated_database: Database,
                                                                              tmp_path: Path) -> None:
    """Real commits, over HTTP against a live server: the administrator approves a claim while
    another administrator records its provider. Either the approval paid before the record (its
    decision no later than the record) or it is refused and the claim waits, nothing paid; the
    books sum to zero each round."""
    rounds = 3
    with isolated_database.unit_of_work() as db:
        make = Factories(db)
        world = build_world(db, make)
        vouchers = issue(db, world, world.company)
        stranger = make.user(organisation=make.org(org_type="voucher_administrator", name="遵义市大数据发展管理局"))
        elsewhere = _second_programme(db, world, stranger, "data", [make.org(org_type="data_merchant").id]).id
        tokens = {name: accounts.create_token(db, accounts.actor_for(user, via="api", ip=None),
                                              TokenIn(name="t", scopes=["read", "write"]))[1]
                  for name, user in (("company", world.company), ("provider", world.provider),
                                     ("admin", world.admin), ("stranger", stranger))}
    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=isolated_database.url,
                        secret_key="test-secret-" + "x" * 32, run_jobs_in_process=False)
    outcomes = []
    with live_server(create_app(settings, database=isolated_database)) as base:
        def headers(name: str, key: str = "") -> dict[str, str]:
            return {"Authorization": f"Bearer {tokens[name]}", **({"Idempotency-Key": key} if key else {})}

        with httpx.Client(base_url=base, timeout=30) as http:
            claims = []
            for i in range(rounds):
                order_id = _settled_order(http, headers("company"), headers("provider"), world, vouchers, f"o{i}")
                claimed = http.post(f"/api/v1/vouchers/orders/{order_id}/reimbursement",
                                    json={**CLAIM, "invoice_number": f"5200000{i}"}, headers=headers("provider"))
                assert claimed.status_code == 201, claimed.text
                claims.append(claimed.json()["id"])
        for round_, claim_id in enumerate(claims):
            def post(i: int, round_: int = round_, claim_id: int = claim_id) -> httpx.Response:
                with httpx.Client(base_url=base, timeout=30) as http:
                    if i == 0:
                        return http.post(f"/api/v1/vouchers/claims/{claim_id}/decision", json={"approve": True},
                                         headers=headers("admin", f"approve-{claim_id}"))
                    time.sleep(0.02 * round_)  # later rounds start the record later: either may come first
                    return http.post(f"/api/v1/vouchers/programmes/{elsewhere}/broken-trust",
                                     json={"org_id": world.provider.org_id, **RECORD}, headers=headers("stranger"))

            approval, recorded = _at_once(post, 2)
            assert recorded.status_code == 201, recorded.text
            with isolated_database.unit_of_work() as db:
                claim = db.get_one(Reimbursement, claim_id)
                record = db.scalars(select(BrokenTrust).where(BrokenTrust.org_id == world.provider.org_id,
                                                              BrokenTrust.lifted_at.is_(None))).one()
                if approval.status_code == 200:
                    assert claim.status == "approved"
                    assert claim.decided_at is not None
                    assert claim.decided_at <= record.recorded_at
                    outcomes.append("approved first")
                else:
                    assert (approval.status_code, approval.json()["code"]) == (409, "broken_trust"), approval.text
                    assert claim.status == "pending"
                    outcomes.append("held")
                paid = db.scalar(select(func.coalesce(func.sum(Reimbursement.amount_fen), 0))
                                 .where(Reimbursement.status == "approved"))
                wallet = ledger.wallet_of(db, world.provider.org_id).balance_fen
                cash = db.scalar(select(func.coalesce(func.sum(ComputeOrder.settled_total_fen
                                                               - ComputeOrder.settled_voucher_fen), 0)))
                assert wallet == paid + cash  # the provider got the companies' part and approved claims only
                assert db.scalar(select(func.sum(LedgerAccount.balance_fen))) == 0
            with httpx.Client(base_url=base, timeout=30) as http:
                assert http.post(f"/api/v1/vouchers/programmes/{elsewhere}/broken-trust/lift",
                                 json={"org_id": world.provider.org_id, "reason": f"第{round_}轮信用修复"},
                                 headers=headers("stranger")).status_code == 200
    assert len(outcomes) == rounds


def test_a_seller_with_a_record_is_not_paid_by_data_vouchers(db: Session, make: Any, settings: Settings,
                                                            buyer: Actor, merchant: Actor,  # noqa: F811
                                                            ready: Ready) -> None:  # noqa: F811
    """A data voucher's provider is the contract's seller: while a record holds against it the buyer's
    contract page offers no voucher form, a payment is refused and nothing moves; after the lift the
    payment goes through, the seller delivers, and its claim is held by a new record until lifted."""
    programme = db.get_one(Programme, ready.programme_id)
    admin = make.actor(db.scalars(select(User).where(User.org_id == programme.admin_org_id)).first())
    assert merchant.org_id is not None
    record = schemas.BrokenTrustIn(org_id=merchant.org_id, **RECORD)
    lift = schemas.LiftBrokenTrustIn(org_id=merchant.org_id, reason="信用修复")
    trust.record_broken_trust(db, admin, programme.id, record)
    assert data_vouchers.payment_offers(db, buyer, ready.contract) == []
    payment = schemas.ContractPaymentIn(contract_id=ready.contract.id, voucher_ids=[ready.voucher_id])
    with pytest.raises(Conflict) as refused:
        data_vouchers.pay_contract(db, buyer, programme.id, payment)
    assert (refused.value.code, refused.value.field) == ("broken_trust", "contract_id")
    assert "该服务商" in refused.value.render("zh")
    assert _left(db, [ready.voucher_id]) == [10_000_00]
    trust.lift_broken_trust(db, admin, programme.id, lift)
    placed = data_vouchers.pay_contract(db, buyer, programme.id, payment)
    payments.deliver(db, merchant, ready.contract.id)
    payments.accept_delivery(db, buyer, ready.contract.id)
    trust.record_broken_trust(db, admin, programme.id, record)
    claim = schemas.ClaimIn(invoice_number="INV-DATA-1", delivery_proof_base64=EVIDENCE)
    with pytest.raises(Conflict) as held:
        redemption.claim_reimbursement(db, merchant, open_blob_store(settings), placed.id, claim, 1 << 20)
    assert held.value.code == "broken_trust"
    trust.lift_broken_trust(db, admin, programme.id, lift)
    assert redemption.claim_reimbursement(db, merchant, open_blob_store(settings), placed.id, claim,
                                          1 << 20).amount_fen == ready.part
