"""A forced sale with a winner becomes an exchange contract in the same transaction: both parties
see it in their contracts (pages and API, signed in as themselves), it links to the sale, it counts
in the public statistics (under its registration's industry and region when the asset was never
listed), it moves no money (the books still sum to zero) and nothing can be paid, delivered,
refunded or changed on it; closing twice records no second contract and no second leaf. The bank
that sold reads the contract (page, PDF, API) and nothing else; it is a leaf of the public log."""

from __future__ import annotations

import base64
import io

from pypdf import PdfReader
from sqlalchemy import func, select

from qianshu.catalog import service as catalog
from qianshu.catalog.schemas import ListingIn
from qianshu.core.signing import load_signer
from qianshu.exchange import contracts as exchange_contracts
from qianshu.exchange import orders as exchange_orders
from qianshu.exchange import statistics, transfers
from qianshu.exchange.models import Contract, TimelineEntry
from qianshu.exchange.schemas import OrderIn
from qianshu.finance import auction
from qianshu.finance.models import ForcedSale, Pledge
from qianshu.ledger import service as ledger
from qianshu.ledger.models import LedgerAccount, LedgerTransfer
from qianshu.translog import merkle
from qianshu.translog import service as log
from qianshu.translog.models import LogEntry
from tests.catalog.conftest import make_listed
from tests.exchange.conftest import SCENARIO
from tests.finance.test_auction import RESERVE, _auction, _bid, _fund, _past_closing
from tests.finance.test_sale import _fund as _fund_org
from tests.finance.test_sale import _list
from tests.registry.helpers import sign_in

PRICE = 500_000_000  # the winning bid, 500 万 yuan


def _sold(client, db, make, asset, bearer):  # type: ignore[no-untyped-def]
    """An auction with one bid past its closing, closed by a read of its page; (sale id, winner)."""
    _pledge_id, offered = _auction(client, db, asset, bearer)
    winner = asset.stranger
    _fund(db, make, asset, winner, 600_000_000, "BID-W")
    assert _bid(client, bearer, winner, offered["id"], PRICE).status_code == 201
    _past_closing(db, offered["id"])
    assert client.get(f"/api/v1/finance/forced-sales/{offered['id']}").json()["status"] == "sold"
    return offered["id"], winner


def test_the_winning_bid_is_a_contract_of_both_parties_and_counts_in_the_statistics(  # type: ignore[no-untyped-def]
        client, db, make, asset, bearer, settings, monkeypatch) -> None:
    monkeypatch.setattr(statistics, "MIN_GROUP", 1)
    before = client.get("/api/v1/exchange/statistics").json()
    sale_id, winner = _sold(client, db, make, asset, bearer)
    moved = db.scalar(select(func.count()).select_from(LedgerTransfer))
    found = db.get(ForcedSale, sale_id)
    contract = db.get_one(Contract, found.contract_id)
    assert (contract.buyer_org_id, contract.seller_org_id, contract.price_fen) == (
        winner.organisation.id, asset.holder.organisation.id, PRICE)
    assert (contract.plan_kind, contract.plan_id, contract.status, contract.payment_status) == (
        "forced_sale", None, "completed", "settled")
    doc = contract.document
    assert doc["buyer"]["uscc"] == winner.organisation.uscc
    assert doc["seller"]["uscc"] == asset.holder.organisation.uscc
    assert doc["product"]["certificate"]["number"] == asset.number
    assert doc["product"]["registration_number"]
    assert (doc["cause"]["kind"], doc["cause"]["id"]) == ("forced_sale", sale_id)
    # the pledge's enforcement leaf in the public log names the contract and its text's hash
    enforced = db.get_one(Pledge, found.pledge_id).events[-1]
    assert (enforced.action, enforced.details["contract_number"], enforced.details["contract_sha256"]) == (
        "enforced", contract.number, contract.text_sha256)
    # both parties, signed in as themselves, see it in their contracts: the page and the API
    for user, side in ((winner, "买方"), (asset.holder, "卖方")):
        client.cookies.clear()
        sign_in(client, user)
        trades = client.get("/exchange/trades")
        row = trades.text.split(contract.number)[1].split("</tr>")[0]
        assert side in row
        assert "强制出售的资产转让" in row
        assert "已完成" in row
        assert "¥500万" in row
        page = client.get(f"/exchange/contracts/{contract.id}")
        assert page.status_code == 200, page.text
        assert f'href="/finance/sales/{sale_id}"' in page.text  # the contract page links to the sale
        assert f'href="/exchange/contracts/{contract.id}"' in client.get(f"/finance/sales/{sale_id}").text
        assert "成交即约束双方" in page.text
        assert "强制出售的资产转让" in page.text
        assert 'id="pay-contract"' not in page.text
        assert 'id="request-refund"' not in page.text
        assert 'id="sign-contract"' not in page.text
        pdf = client.get(f"/api/v1/exchange/contracts/{contract.id}/pdf")
        assert (pdf.status_code, pdf.content[:4]) == (200, b"%PDF")
        listed = client.get("/api/v1/exchange/trades", headers=bearer(user)).json()["contracts"]
        assert [(c["number"], c["plan_kind"], c["plan_id"]) for c in listed] == [
            (contract.number, "forced_sale", None)]
    client.cookies.set("qs_lang", "en")  # in English, the same labels
    english = client.get(f"/exchange/contracts/{contract.id}").text
    client.cookies.delete("qs_lang")
    assert '<dd id="contract-kind">Asset transfer by forced sale</dd>' in english
    assert 'id="contract-status">Completed</span>' in english
    assert "强制出售" not in english
    # a third organisation is told it does not exist
    client.cookies.clear()
    other = make.user(organisation=make.org(org_type="buyer"))
    assert client.get(f"/api/v1/exchange/contracts/{contract.id}", headers=bearer(other)).status_code == 404
    # the public statistics count it, with its price in the turnover (shown from one contract up here:
    # the page hides a turnover of fewer than MIN_GROUP contracts, which a test database may have)
    monkeypatch.setattr(statistics, "MIN_GROUP", 1)
    after = client.get("/api/v1/exchange/statistics").json()
    assert after["transactions"] == before["transactions"] + 1
    assert after["turnover_fen"] == (before["turnover_fen"] or 0) + PRICE
    by_mode = {p["key"]: (p["count"], p["amount_fen"]) for p in after["series"]["by_mode"]}
    assert by_mode["transfer"] == (1, PRICE)
    assert any(p["amount_fen"] == PRICE for p in after["series"]["by_month"]) or after["transactions"] > 1
    # no money moved under the contract: nothing caused by it, the books balance
    assert ledger.transfers_by_cause(db, "contract", contract.id) == []
    assert db.scalar(select(func.count()).select_from(LedgerTransfer)) == moved
    assert db.scalar(select(func.sum(LedgerAccount.balance_fen))) == 0
    # a transfer of the asset is not a delivery contract: it grants no access
    assert not exchange_contracts.contract_is_active(db, contract.id, "download")
    assert not exchange_contracts.contract_is_active(db, contract.id, "transfer")


def test_nothing_moves_money_on_the_contract_and_closing_twice_records_one(  # type: ignore[no-untyped-def]
        client, db, make, asset, bearer, settings) -> None:
    sale_id, winner = _sold(client, db, make, asset, bearer)
    contract_id = db.get_one(ForcedSale, sale_id).contract_id
    for user, path, body in ((winner, "pay", None), (asset.holder, "deliver", None),
                             (winner, "refund-requests", {"amount": "1.00", "reason": "想退款"}),
                             (asset.holder, "refund", {"amount": "1.00", "reason": "退款"}),
                             (winner, "disputes", {"reason": "不满意"}), (winner, "renewal", {"renews": True}),
                             (winner, "sign", {"text_sha256": "0" * 64})):
        r = client.post(f"/api/v1/exchange/contracts/{contract_id}/{path}", json=body, headers=bearer(user))
        assert r.status_code in (409, 422), (path, r.status_code, r.text)
        if r.status_code == 409:
            assert r.json()["code"] == "asset_transfer", (path, r.text)
    refused = client.post(f"/api/v1/exchange/contracts/{contract_id}/pay",
                          headers={**bearer(winner), "Accept-Language": "zh"})
    assert "强制出售" in refused.json()["detail"]
    # delivery's pages have nothing to deliver under it, and say so without an error of the server
    sign_in(client, winner)
    for path in ("", "/sandbox", "/limits"):
        page = client.get(f"/delivery/contracts/{contract_id}{path}")
        assert page.status_code in (200, 403, 404, 409), (path, page.status_code, page.text[:300])
        assert 'id="issue-link"' not in page.text
    client.cookies.clear()
    # closing again (the page, the task) records no second contract
    from qianshu.core.signing import load_signer

    again = auction.close_sale(db, settings, load_signer(settings.key_dir), sale_id)
    assert again.contract_id == contract_id
    assert client.get(f"/finance/sales/{sale_id}").status_code == 200
    assert db.scalar(select(func.count()).select_from(Contract).where(Contract.plan_kind == "forced_sale")) == 1
    assert db.scalar(select(func.sum(LedgerAccount.balance_fen))) == 0
    assert RESERVE < PRICE


def test_a_fixed_price_purchase_is_a_contract_too_and_its_order_page_reads(  # type: ignore[no-untyped-def]
        client, db, make, asset, bearer) -> None:
    _pledge_id, listed = _list(client, db, asset, bearer)
    sale_id, buyer = listed["forced_sale"]["id"], asset.stranger
    _fund_org(db, make, asset, buyer.organisation.id, 600_000_000, "SALE-C")
    bought = client.post(f"/api/v1/finance/forced-sales/{sale_id}/buy", headers=bearer(buyer))
    assert bought.status_code == 200, bought.text
    contract = db.get_one(Contract, bought.json()["contract_id"])
    assert (contract.buyer_org_id, contract.price_fen, contract.status) == (buyer.organisation.id, PRICE, "completed")
    # the order behind it (its number and timeline) reads for both parties, page and API
    sign_in(client, asset.holder)
    order = client.get(f"/exchange/orders/{contract.order_id}")
    assert order.status_code == 200, order.text
    page = client.get(f"/exchange/contracts/{contract.id}")
    assert "强制出售成交，资产转让" in page.text  # the timeline's step
    api = client.get(f"/api/v1/exchange/orders/{contract.order_id}", headers=bearer(buyer))
    assert (api.status_code, api.json()["plan_id"], api.json()["kind"]) == (200, None, "transfer")
    assert db.scalar(select(func.sum(LedgerAccount.balance_fen))) == 0


def test_a_listed_asset_s_contract_names_its_product(client, db, make, asset, bearer) -> None:  # type: ignore[no-untyped-def]
    listing = catalog.create_listing(db, make.actor(asset.holder), ListingIn(
        registration_id=asset.registration_id, title_zh="贵阳公交刷卡数据", title_en="Guiyang bus card taps"))
    sale_id, winner = _sold(client, db, make, asset, bearer)
    contract = db.get_one(Contract, db.get_one(ForcedSale, sale_id).contract_id)
    assert (contract.listing_id, contract.document["product"]["title"]["zh"]) == (listing.id, "贵阳公交刷卡数据")
    top = {p["key"]: p["count"] for p in client.get("/api/v1/exchange/statistics").json()["series"]["top_products"]}
    assert top[str(listing.id)] == 1
    sign_in(client, winner)
    assert f'href="/catalog/{listing.id}"' in client.get(f"/exchange/contracts/{contract.id}").text


def _an_ordinary_contract(db, make, asset):  # type: ignore[no-untyped-def]
    """A contract of a catalogue plan between two organisations other than the bank."""
    seller, buyer = make.actor(asset.stranger), make.actor(asset.holder)
    product = make_listed(db, seller, make.actor(asset.operator), number="QS-DR-2026-990001")
    placed = exchange_orders.place_order(db, buyer, OrderIn(listing_id=product.id, plan_id=product.plans[0].id,
                                                     purpose="research", scenario=SCENARIO))
    return exchange_orders.accept_order(db, seller, placed.id)


def test_the_selling_bank_reads_the_contract_and_its_pdf_and_no_other(  # type: ignore[no-untyped-def]
        client, db, make, asset, bearer) -> None:
    sale_id, winner = _sold(client, db, make, asset, bearer)
    contract = db.get_one(Contract, db.get_one(ForcedSale, sale_id).contract_id)
    assert contract.pledgee_org_id == contract.order.pledgee_org_id == asset.bank.organisation.id
    ordinary = _an_ordinary_contract(db, make, asset)
    # the bank, signed in, finds the contract from its sale and reads it in both languages
    sign_in(client, asset.bank)
    assert f'href="/exchange/contracts/{contract.id}"' in client.get(f"/finance/sales/{sale_id}").text
    for lang, words, absent in (("zh", "强制出售的资产转让", "Asset transfer by forced sale"),
                                ("en", "Asset transfer by forced sale", "强制出售")):
        client.cookies.set("qs_lang", lang)
        page = client.get(f"/exchange/contracts/{contract.id}")
        assert page.status_code == 200, page.text
        assert contract.number in page.text
        assert words in page.text
        assert absent not in page.text
        assert f'href="/finance/sales/{sale_id}"' in page.text
        assert '<p><a href="/exchange/trades">←' not in page.text  # not one of its trades: no way back to them
        for button in ("sign-contract", "pay-contract", "request-refund", "raise-dispute"):
            assert f'id="{button}"' not in page.text
        pdf = client.get(f"/api/v1/exchange/contracts/{contract.id}/pdf", headers={"Accept-Language": lang})
        assert (pdf.status_code, pdf.content[:4]) == (200, b"%PDF")
    client.cookies.delete("qs_lang")
    bank = bearer(asset.bank)
    for path in (f"contracts/{contract.id}", f"contracts/{contract.id}/text", f"orders/{contract.order_id}",
                 f"orders/{contract.order_id}/timeline"):
        assert client.get(f"/api/v1/exchange/{path}", headers=bank).status_code == 200, path
    # only read: every step on it is refused to the bank (403: it may see the contract, not act on it)
    for path, body in (("pay", None), ("sign", {}), ("refund", {"amount_fen": 100, "reason": "退款"}),
                       ("disputes", {"reason": "不满意"}), ("changes", {"kind": "terminate", "reason": "终止"})):
        r = client.post(f"/api/v1/exchange/contracts/{contract.id}/{path}", json=body,
                        headers={**bank, "Idempotency-Key": f"bank-{path}"})
        assert r.status_code == 403, (path, r.status_code, r.text)
    # and it sees no other contract, nor is the transfer among its trades
    assert client.get(f"/exchange/contracts/{ordinary.id}").status_code == 404
    assert client.get(f"/api/v1/exchange/contracts/{ordinary.id}", headers=bank).status_code == 404
    assert contract.number not in client.get("/exchange/trades").text
    # another bank and an unrelated organisation are told it does not exist, as for any contract
    client.cookies.clear()
    for user in (asset.other_bank, make.user(organisation=make.org(org_type="buyer"))):
        for path in (f"contracts/{contract.id}", f"contracts/{contract.id}/pdf", f"orders/{contract.order_id}"):
            assert client.get(f"/api/v1/exchange/{path}", headers=bearer(user)).status_code == 404, path
        sign_in(client, user)
        assert client.get(f"/exchange/contracts/{contract.id}").status_code == 404
        assert 'id="sale-contract"' not in client.get(f"/finance/sales/{sale_id}").text
        client.cookies.clear()
    assert client.get(f"/api/v1/exchange/contracts/{contract.id}/pdf").status_code == 401
    assert winner.organisation.id == contract.buyer_org_id


def _transfer_leaves(db):  # type: ignore[no-untyped-def]
    return [e for e in db.scalars(select(LogEntry).order_by(LogEntry.index)) if e.event_type == transfers.LEAF]


def test_the_contract_is_a_leaf_of_the_public_log_once(client, db, make, asset, bearer, settings) -> None:  # type: ignore[no-untyped-def]
    sale_id, winner = _sold(client, db, make, asset, bearer)
    contract = db.get_one(Contract, db.get_one(ForcedSale, sale_id).contract_id)
    [entry] = _transfer_leaves(db)
    payload = entry.document["payload"]
    assert payload == {
        "number": contract.number, "text_sha256": contract.text_sha256, "version": "1",
        "buyer_uscc": winner.organisation.uscc, "seller_uscc": asset.holder.organisation.uscc,
        "pledgee_uscc": asset.bank.organisation.uscc,
        "registration_number": contract.document["product"]["registration_number"],
        "cause": "forced_sale", "cause_id": str(sale_id)}  # and never the price
    # its timeline step keeps the leaf, and the contract page links to it
    step = db.scalar(select(TimelineEntry).where(TimelineEntry.contract_id == contract.id,
                                                 TimelineEntry.step == "asset_transferred"))
    assert step is not None
    assert step.detail["log_index"] == entry.index
    sign_in(client, asset.holder)
    holders_page = client.get(f"/exchange/contracts/{contract.id}").text
    assert f'href="/log/leaves/{entry.index}"' in holders_page
    assert '<p><a href="/exchange/trades">←' in holders_page  # a party goes back to its trades
    pdf = client.get(f"/api/v1/exchange/contracts/{contract.id}/pdf")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert f"Log leaf: {entry.index} {entry.leaf_hash}" in text  # the PDF names its leaf too
    client.cookies.clear()
    # the log's page names the event in the reader's language
    assert "强制出售的资产转让合同" in client.get(f"/log/leaves/{entry.index}").text
    client.cookies.set("qs_lang", "en")
    assert "Contract of an asset transfer by forced sale" in client.get(f"/log/leaves/{entry.index}").text
    client.cookies.delete("qs_lang")
    # the signed tree head the sale's enforcement signed covers it: its inclusion proof verifies
    head = client.get("/api/v1/log/sth").json()
    assert head["tree_size"] > entry.index
    assert log.verify_tree_head(load_signer(settings.key_dir).public_key(), head)
    proof = client.get("/api/v1/log/proof/inclusion", params={"index": entry.index}).json()
    assert base64.b64decode(proof["leaf_hash"]) == merkle.leaf_hash(entry.leaf)
    assert merkle.verify_inclusion(entry.index, head["tree_size"], merkle.leaf_hash(entry.leaf),
                                   [base64.b64decode(h) for h in proof["inclusion_path"]],
                                   base64.b64decode(head["root_hash"]))
    # closing the sale again (its page, the task) writes no second leaf
    again = auction.close_sale(db, settings, load_signer(settings.key_dir), sale_id)
    assert again.contract_id == contract.id
    assert client.get(f"/finance/sales/{sale_id}").status_code == 200
    assert [e.index for e in _transfer_leaves(db)] == [entry.index]


def test_a_never_listed_asset_counts_under_its_registration_s_industry_and_region(  # type: ignore[no-untyped-def]
        client, db, make, asset, bearer) -> None:
    def grouped(series: str) -> dict[str, int]:
        return {p["key"]: p["count"] for p in client.get("/api/v1/exchange/statistics").json()["series"][series]}

    before = grouped("by_industry"), grouped("by_region")
    sale_id, _winner = _sold(client, db, make, asset, bearer)
    assert db.get_one(Contract, db.get_one(ForcedSale, sale_id).contract_id).listing_id is None
    # the registration's declaration: industry I64 (section I), division 520102 (in Guiyang, 520100)
    assert grouped("by_industry").get("I", 0) == before[0].get("I", 0) + 1
    assert grouped("by_region").get("520100", 0) == before[1].get("520100", 0) + 1
    assert grouped("by_industry").get("-", 0) == before[0].get("-", 0)
    page = client.get("/statistics").text
    assert "信息传输、软件和信息技术服务业" in page
