"""The buyer pays an exchange contract with data vouchers from the contract page (vouchers'
``contract_panel`` hook): the panel shows what the vouchers cover and what the wallet pays; the form
pays through the same service as the API (the books sum to zero, the seller's claim follows); a
refused payment shows the contract page again with the error beside its field, in Chinese and
English, and nothing moved. A data voucher's order page names the seller and data vouchers."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.accounts.models import User
from qianshu.core.actor import Actor
from qianshu.core.i18n import LANG_COOKIE
from qianshu.exchange import payments
from qianshu.ledger import service as ledger
from qianshu.ledger.models import LedgerAccount
from qianshu.vouchers import read_models, schemas, service
from qianshu.vouchers.models import ComputeOrder, Voucher
from tests.accounts.test_form_errors import beside, visible_text
from tests.catalog.conftest import buyer, listed, merchant, operator, registration  # noqa: F401 - fixtures
from tests.exchange.conftest import fund, order, signed  # noqa: F401 - fixtures
from tests.vouchers.conftest import programme_in
from tests.vouchers.test_api_pages import _sign_in


@dataclass
class Ready:
    programme_id: int
    voucher_id: int
    contract: Any
    part: int  # what the vouchers cover


@pytest.fixture
def ready(db: Session, make: Any, buyer: Actor, merchant: Actor,  # noqa: F811
          signed: Callable[..., Any], fund: Callable[..., None]) -> Ready:  # noqa: F811
    """A data programme with the merchant taking part, a voucher of 10,000 yuan held by the buyer,
    and a contract in force between them, unpaid; the buyer's wallet holds its part exactly."""
    admin = make.actor(make.user(organisation=make.org(org_type="voucher_administrator")))
    fund(admin, 10_000_000_00)
    programme = service.create_programme(db, admin, programme_in(
        [merchant.org_id], kind="data", eligible_purposes=["data_product"], ratio_bp=5000,
        face_values_fen=[10_000_00], cap_contract_fen=10_000_00, cap_company_year_fen=10_000_00))
    application = service.apply(db, buyer, programme.id, schemas.ApplicationIn(
        purpose="data_product", company_size="small", planned_use="购买交通数据产品", requested_fen=10_000_00))
    service.decide_application(db, admin, application.id, schemas.DecisionIn(approve=True))
    voucher = db.scalars(select(Voucher).where(Voucher.holder_org_id == buyer.org_id)).one()
    contract = signed()
    part = min(contract.price_fen // 2, 10_000_00)
    fund(buyer, contract.price_fen - part)
    return Ready(programme.id, voucher.id, contract, part)


def _user(db: Session, who: Actor) -> User:
    return db.get_one(User, who.user_id)


def _books(db: Session) -> int:
    return int(db.scalar(select(func.sum(LedgerAccount.balance_fen))) or 0)


def _figure(page: str, css: str) -> str:
    found = re.search(rf'<dd class="{css}"[^>]*>(.*?)</dd>', page, flags=re.S)
    assert found, css
    return visible_text(found.group(1))


def test_the_buyer_pays_through_the_form_and_the_seller_claims(
        client, db: Session, ready: Ready, buyer: Actor, merchant: Actor) -> None:  # noqa: F811
    contract = ready.contract
    token = _sign_in(client, db, _user(db, buyer))
    client.cookies.set(LANG_COOKIE, "en")
    page = client.get(f"/exchange/contracts/{contract.id}").text
    assert 'id="voucher-pay"' in page
    assert _figure(page, "voucher-fen") == f"CN¥{ready.part / 100:,.2f}"
    assert _figure(page, "wallet-fen") == f"CN¥{(contract.price_fen - ready.part) / 100:,.2f}"
    r = client.post(f"/vouchers/programmes/{ready.programme_id}/contracts/{contract.id}/pay", follow_redirects=False,
                    data={"csrf_token": token, "purpose": "data_product", "voucher_ids": [str(ready.voucher_id)]})
    assert r.status_code == 303, r.text[:2000]
    assert r.headers["location"] == f"/exchange/contracts/{contract.id}"
    db.expire_all()
    assert contract.payment_status == "escrowed"
    assert contract.subsidy_fen == ready.part
    assert ledger.balance(db, ledger.wallet_of(db, buyer.org_id or 0)) == 0  # it paid exactly its part
    assert _books(db) == 0
    after = client.get(f"/exchange/contracts/{contract.id}").text
    assert 'id="voucher-pay"' not in after  # paid: the form is gone
    paid = db.scalars(select(ComputeOrder).where(ComputeOrder.subject == f"contract:{contract.id}")).one()
    assert paid.voucher_fen == ready.part
    assert db.get_one(Voucher, ready.voucher_id).remaining_fen == 10_000_00 - ready.part
    # the seller delivers and sees the claim for the voucher part on the order's page
    payments.deliver(db, merchant, contract.id)
    client.cookies.clear()
    _sign_in(client, db, _user(db, merchant))
    for lang, seller, paid_with in (("en", "Seller (data merchant)", "Paid with data vouchers"),
                                    ("zh", "卖方（数商）", "以数据券支付")):
        client.cookies.set(LANG_COOKIE, lang)
        seen = client.get(f"/vouchers/orders/{paid.id}").text
        assert 'id="claim-form"' in seen
        assert re.search(rf'id="provider-label">{re.escape(seller)}</dt>', seen)
        assert re.search(rf'id="voucher-label">{re.escape(paid_with)}</dt>', seen)
        text = visible_text(seen)
        for compute_words in ("算力服务商", "以算力券支付", "Provider", "Paid with vouchers"):
            assert compute_words not in text
        # its orders list names the contract, not 0 card-hours
        row = re.search(rf'<a href="/vouchers/orders/{paid.id}">.*?</tr>', client.get("/vouchers/mine").text, re.S)
        assert row, "the order is listed"
        assert f'href="/exchange/contracts/{contract.id}"' in row.group(0)


@pytest.mark.parametrize(("lang", "words", "absent"), [
    ("zh", {"voucher_ids": "数据券：请至少选择一张券。", "amount_fen": "钱包支付",
            "summary": "请更正以下 1 处问题"}, "Data vouchers"),
    ("en", {"voucher_ids": "Data vouchers: Choose at least one voucher.", "amount_fen": "Paid from the wallet",
            "summary": "Please correct 1 problem"}, "数据券"),
])
def test_a_refused_payment_shows_the_error_beside_the_field(
        client, db: Session, ready: Ready, buyer: Actor, operator: Actor,  # noqa: F811
        lang: str, words: dict[str, str], absent: str) -> None:
    contract = ready.contract
    token = _sign_in(client, db, _user(db, buyer))
    client.cookies.set(LANG_COOKIE, lang)
    form = f"voucher-pay-{ready.programme_id}"
    url = f"/vouchers/programmes/{ready.programme_id}/contracts/{contract.id}/pay"
    r = client.post(url, follow_redirects=False, data={"csrf_token": token, "purpose": "data_product"})
    assert r.status_code == 422
    assert 'id="voucher-pay"' in r.text  # the contract page, not the error page
    assert f'action="/exchange/contracts/{contract.id}/' in r.text
    assert words["voucher_ids"] in beside(r.text, "voucher_ids", form)
    assert words["summary"] in visible_text(r.text.split('id="form-errors"', 1)[1].split("</div>", 1)[0])
    assert absent not in visible_text(r.text)
    # the wallet short of its part: the ledger's refusal beside what the wallet pays, the voucher kept
    ledger.withdraw(db, operator, org_id=buyer.org_id or 0, amount_fen=1, bank_reference=f"WD-{contract.id}")
    db.flush()
    r = client.post(url, follow_redirects=False, data={"csrf_token": token, "purpose": "data_product",
                                                       "voucher_ids": [str(ready.voucher_id)]})
    assert r.status_code == 422, r.text[:500]
    assert words["amount_fen"] in beside(r.text, "amount_fen", form)
    assert re.search(rf'name="voucher_ids" value="{ready.voucher_id}" checked', r.text)
    db.expire_all()
    assert contract.payment_status == "unpaid"
    assert db.get_one(Voucher, ready.voucher_id).remaining_fen == 10_000_00
    assert db.scalar(select(func.count(ComputeOrder.id))) == 0
    assert _books(db) == 0


def test_the_figures_follow_the_ticks_as_the_payment_computes_them(
        client, db: Session, ready: Ready, buyer: Actor, merchant: Actor) -> None:  # noqa: F811
    """What the page's script asks for: the payment's own figures for the vouchers ticked, written
    as the page writes them; nothing reserved; only the buyer gets them."""
    contract = ready.contract
    _sign_in(client, db, _user(db, buyer))
    url = f"/vouchers/programmes/{ready.programme_id}/contracts/{contract.id}/split"
    page = client.get(f"/exchange/contracts/{contract.id}").text
    assert f'data-split-url="{url}"' in page
    assert '<script src="/static/vouchers/vouchers.js" defer></script>' in page
    assert client.get("/static/vouchers/vouchers.js").status_code == 200
    for lang, money in (("en", "CN¥{:,.2f}"), ("zh", "¥{:,.2f}")):
        client.cookies.set(LANG_COOKIE, lang)
        ticked = client.get(url, params={"voucher_ids": [ready.voucher_id]}).json()
        assert (ticked["voucher_fen"], ticked["wallet_fen"]) == (ready.part, contract.price_fen - ready.part)
        assert ticked["voucher_text"] == money.format(ready.part / 100)
        none = client.get(url).json()
        assert (none["voucher_fen"], none["wallet_fen"]) == (0, contract.price_fen)
        assert none["wallet_text"] in none["button_text"]
        assert none["voucher_text"] == money.format(0)
    assert "钱包支付" in none["button_text"]
    # another's voucher counts for nothing; nothing was reserved
    assert client.get(url, params={"voucher_ids": [ready.voucher_id + 999]}).json()["voucher_fen"] == 0
    db.expire_all()
    assert db.get_one(Voucher, ready.voucher_id).remaining_fen == 10_000_00
    client.cookies.clear()
    _sign_in(client, db, _user(db, merchant))
    assert client.get(url, params={"voucher_ids": [ready.voucher_id]}).status_code in (403, 404)


def test_the_read_model_offers_the_payment_to_the_buyer_only(
        db: Session, ready: Ready, buyer: Actor, merchant: Actor) -> None:  # noqa: F811
    view = read_models.contract_payment(db, buyer, ready.contract)
    assert view is not None
    assert [(o.programme.id, o.voucher_fen) for o in view.offers] == [(ready.programme_id, ready.part)]
    assert read_models.contract_payment(db, merchant, ready.contract) is None  # the seller does not pay
