"""Bidding in a forced sale's auction: the bank sets a reserve and a closing; bids beat the best by
the step, each escrowed, the outbid one returned in the same batch; at closing the best bid buys
(fee, bank up to the debt, holder the rest, rights by transfer) or the sale closes unsold and the
pledge is active again. Refusals are bilingual and move no money. Figures computed by hand."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from qianshu.core.inbox import Notification
from qianshu.core.signing import load_signer
from qianshu.core.timeutil import SHANGHAI, utcnow
from qianshu.finance import auction, jobs, sale
from qianshu.finance.models import ForcedSale, Pledge, SaleBid
from qianshu.ledger import service as ledger
from qianshu.ledger.models import LedgerAccount
from qianshu.registry.models import Registration
from tests.finance.test_enforcement import _active_pledge

RESERVE = 400_000_000  # 400 万 yuan


def _fund(db, make, asset, user, fen, ref):  # type: ignore[no-untyped-def]
    ledger.deposit(db, make.actor(asset.operator), org_id=user.organisation.id, amount_fen=fen, bank_reference=ref)


def _wallet(db, user) -> int:  # type: ignore[no-untyped-def]
    return ledger.balance(db, ledger.wallet_of(db, user.organisation.id))


def _auction(client, db, asset, bearer, days=73, step=None):  # type: ignore[no-untyped-def]
    pledge_id = _active_pledge(client, asset, bearer, asset.bank, secured=400_000_000)
    db.get(Pledge, pledge_id).starts_on = utcnow().astimezone(SHANGHAI).date() - dt.timedelta(days=days)
    db.flush()
    body = {"reason": "借款人逾期 90 天", "mode": "sale", "price_fen": RESERVE, "closes_in_days": 7}
    if step is not None:
        body["step_fen"] = step
    r = client.post(f"/api/v1/finance/pledges/{pledge_id}/enforce", json=body, headers=bearer(asset.bank))
    assert r.status_code == 200, r.text
    return pledge_id, r.json()["forced_sale"]


def _bid(client, bearer, user, sale_id, fen, lang="en"):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/finance/forced-sales/{sale_id}/bids", json={"amount_fen": fen},
                       headers={**bearer(user), "Accept-Language": lang})


def _past_closing(db, sale_id) -> None:  # type: ignore[no-untyped-def]
    db.get(ForcedSale, sale_id).closes_at = utcnow() - dt.timedelta(minutes=1)
    db.flush()


def test_the_best_bid_at_closing_buys_and_the_outbid_are_repaid(client, db, make, asset, bearer) -> None:  # type: ignore[no-untyped-def]
    pledge_id, offered = _auction(client, db, asset, bearer)
    sale_id = offered["id"]
    assert (offered["kind"], offered["price_fen"], offered["step_fen"]) == ("auction", RESERVE, 4_000_000)  # 1 %
    first, second = asset.stranger, make.user(organisation=make.org(org_type="buyer"))
    _fund(db, make, asset, first, 600_000_000, "BID-1")
    _fund(db, make, asset, second, 600_000_000, "BID-2")
    # below the reserve: 422 naming the amount; nothing moves
    low = _bid(client, bearer, first, sale_id, RESERVE - 1, "zh")
    assert (low.status_code, low.json()["code"], low.json()["field"]) == (422, "bid_below_reserve", "amount_fen")
    assert "保留价" in low.json()["detail"]
    assert _wallet(db, first) == 600_000_000
    # the holder and the bank do not bid in their own sale; a fixed-price purchase is refused
    for who in (asset.holder, asset.bank):
        assert _bid(client, bearer, who, sale_id, RESERVE).json()["code"] == "own_sale"
    buy = client.post(f"/api/v1/finance/forced-sales/{sale_id}/buy", headers=bearer(second))
    assert (buy.status_code, buy.json()["code"]) == (409, "auction")
    opening = _bid(client, bearer, first, sale_id, RESERVE)
    assert opening.status_code == 201, opening.text
    assert _wallet(db, first) == 200_000_000  # 400 万 in the bid's escrow
    # the next bid must beat 400 万 by the step (4 万): 403.99 万 is refused in both languages
    for lang, words in (("zh", "当前最高出价"), ("en", "the best bid is")):
        short = _bid(client, bearer, second, sale_id, RESERVE + 3_999_999, lang)
        assert (short.status_code, short.json()["code"], short.json()["field"]) == (409, "bid_too_low", "amount_fen")
        assert words in short.json()["detail"]
    assert _wallet(db, second) == 600_000_000
    better = _bid(client, bearer, second, sale_id, 500_000_000)
    assert better.status_code == 201, better.text
    # the opening bid is back in the same batch as the better one went into escrow
    assert (_wallet(db, first), _wallet(db, second)) == (600_000_000, 100_000_000)
    moves = ledger.transfers_by_cause(db, "forced_sale", sale_id)
    batch = [m for m in moves if m.amount_fen in (500_000_000, RESERVE) and m.batch_id]
    assert len(batch) == 2
    assert batch[0].batch_id == batch[1].batch_id
    bids = db.scalars(select(SaleBid).where(SaleBid.sale_id == sale_id).order_by(SaleBid.id)).all()
    assert [b.status for b in bids] == ["outbid", "leading"]
    told = {n.message for n in db.scalars(select(Notification).where(Notification.org_id == first.organisation.id))}
    assert auction.OUTBID in told
    # before closing, reading changes nothing; after it, the read closes the sale (and again is a no-op)
    assert client.get(f"/api/v1/finance/forced-sales/{sale_id}").json()["status"] == "listed"
    _past_closing(db, sale_id)
    late = _bid(client, bearer, first, sale_id, 600_000_000)
    assert (late.status_code, late.json()["code"]) == (409, "sale_closed")
    closed = client.get(f"/api/v1/finance/forced-sales/{sale_id}")
    assert closed.status_code == 200, closed.text
    body = closed.json()
    # by hand: debt 400 万 + 4 % × 73/365 = 403.2 万; fee 2.5 % of 500 万 = 12.5 万; bank 403.2 万; holder 84.3 万
    assert (body["status"], body["buyer_org_id"]) == ("sold", second.organisation.id)
    assert (body["debt_fen"], body["fee_fen"], body["to_pledgee_fen"], body["to_pledgor_fen"]) == (
        403_200_000, 12_500_000, 403_200_000, 84_300_000)
    assert [b["status"] for b in body["bids"]] == ["won", "outbid"]  # best first
    assert _wallet(db, asset.bank) == 403_200_000
    assert _wallet(db, asset.holder) == 84_300_000
    assert _wallet(db, second) == 100_000_000
    assert client.get(f"/api/v1/finance/forced-sales/{sale_id}").json()["closed_at"] == body["closed_at"]
    pledge = db.get(Pledge, pledge_id)
    assert pledge.status == "enforced"
    assert [e.action for e in pledge.events][-4:] == ["sale_listed", "bid_placed", "bid_placed", "enforced"]
    assert pledge.events[-1].details["bid_id"] == bids[1].id
    transfer = db.get(Registration, body["transfer_registration_id"])
    assert (transfer.reg_type, transfer.transferee_org_id) == ("transfer", second.organisation.id)
    won = db.scalars(select(Notification).where(Notification.org_id == second.organisation.id,
                                                Notification.message == auction.WON)).all()
    assert len(won) == 1
    assert db.scalar(select(func.sum(LedgerAccount.balance_fen))) == 0  # the books balance


def test_an_auction_without_a_bid_closes_unsold_by_the_periodic_task(  # type: ignore[no-untyped-def]
        client, database, db, make, asset, bearer, settings) -> None:
    pledge_id, offered = _auction(client, db, asset, bearer, days=0)
    sale_id = offered["id"]
    _past_closing(db, sale_id)
    db.commit()
    assert jobs.close_sales(database, settings) == 1
    assert jobs.close_sales(database, settings) == 0  # closing twice does nothing
    db.expire_all()
    assert (db.get(ForcedSale, sale_id).status, db.get(Pledge, pledge_id).status) == ("unsold", "active")
    assert db.get(Pledge, pledge_id).events[-1].action == "sale_unsold"
    told = {n.org_id for n in db.scalars(select(Notification).where(Notification.message == auction.UNSOLD))}
    assert told == {asset.bank.organisation.id, asset.holder.organisation.id}
    assert client.get("/api/v1/finance/forced-sales").json() == []
    # the pledge is enforceable again
    again = client.post(f"/api/v1/finance/pledges/{pledge_id}/enforce", json={"reason": "流拍", "mode": "record"},
                        headers=bearer(asset.bank))
    assert again.status_code == 200, again.text


def test_refusals_of_an_offer_and_of_bids_change_nothing(client, db, make, asset, bearer) -> None:  # type: ignore[no-untyped-def]
    pledge_id = _active_pledge(client, asset, bearer, asset.bank)
    url = f"/api/v1/finance/pledges/{pledge_id}/enforce"
    for days in (0, 31):
        r = client.post(url, json={"reason": "逾期", "mode": "sale", "price_fen": RESERVE, "closes_in_days": days},
                        headers=bearer(asset.bank))
        assert (r.status_code, r.json()["field"]) == (422, "closes_in_days")
    step_alone = client.post(url, json={"reason": "逾期", "mode": "sale", "price_fen": RESERVE, "step_fen": 100},
                             headers=bearer(asset.bank))
    assert (step_alone.status_code, step_alone.json()["field"]) == (422, "closes_in_days")
    assert db.get(Pledge, pledge_id).status == "active"
    fixed = client.post(url, json={"reason": "逾期", "mode": "sale", "price_fen": RESERVE},
                        headers=bearer(asset.bank)).json()["forced_sale"]
    assert fixed["kind"] == "fixed"
    not_auction = _bid(client, bearer, asset.stranger, fixed["id"], RESERVE)
    assert (not_auction.status_code, not_auction.json()["code"]) == (409, "not_an_auction")
    poor = _bid(client, bearer, asset.stranger, fixed["id"] + 1000, RESERVE)
    assert poor.status_code == 404
    for bad in ({"amount_fen": 0}, {"amount_fen": "lots"}, {}):
        r = client.post(f"/api/v1/finance/forced-sales/{fixed['id']}/bids", json=bad, headers=bearer(asset.stranger))
        assert r.status_code == 422
    assert client.post(f"/api/v1/finance/forced-sales/{fixed['id']}/bids", json={"amount_fen": RESERVE}).status_code \
        == 401


def test_a_bidder_without_the_money_is_refused_and_a_withdrawal_repays_the_leader(  # type: ignore[no-untyped-def]
        client, db, make, asset, bearer) -> None:
    pledge_id, offered = _auction(client, db, asset, bearer, days=0)
    sale_id = offered["id"]
    poor = _bid(client, bearer, asset.stranger, sale_id, RESERVE)
    assert (poor.status_code, poor.json()["code"], poor.json()["field"]) == (422, "insufficient_funds", "amount_fen")
    assert db.scalar(select(func.count()).select_from(SaleBid)) == 0
    _fund(db, make, asset, asset.stranger, RESERVE, "BID-3")
    assert _bid(client, bearer, asset.stranger, sale_id, RESERVE).status_code == 201
    assert _wallet(db, asset.stranger) == 0
    withdrawn = client.post(f"/api/v1/finance/forced-sales/{sale_id}/withdraw", json={"reason": "借款人已还款"},
                            headers=bearer(asset.bank))
    assert withdrawn.status_code == 200, withdrawn.text
    assert _wallet(db, asset.stranger) == RESERVE
    assert db.get(Pledge, pledge_id).status == "active"
    told = db.scalars(select(Notification).where(Notification.message == sale.BID_RETURNED)).all()
    assert [n.org_id for n in told] == [asset.stranger.organisation.id]


def test_the_sale_page_shows_the_bids_and_refuses_a_bid_beside_its_field(  # type: ignore[no-untyped-def]
        client, db, make, asset, bearer) -> None:
    from tests.registry.helpers import sign_in

    _pledge_id, offered = _auction(client, db, asset, bearer, days=0)
    sale_id = offered["id"]
    page = client.get(f"/finance/sales/{sale_id}")
    assert page.status_code == 200
    assert "保留价" in page.text
    assert 'id="bid-form"' not in page.text  # a visitor sees it, may not bid
    assert f'id="bid-link-{sale_id}"' in client.get("/finance/sales").text
    assert f'href="/finance/sales/{sale_id}"' in client.get(f"/finance/lookup?number={asset.number}").text
    csrf = sign_in(client, asset.stranger)
    _fund(db, make, asset, asset.stranger, 900_000_000, "BID-4")
    form = client.get(f"/finance/sales/{sale_id}").text
    assert 'id="bid-form"' in form
    assert "至少 ¥4,000,000.00" in form  # the least bid to the fen, not rounded to 万 as amounts read elsewhere
    for typed, status, words in (("四百万", 422, "请填写数字"), ("100", 422, "保留价")):
        refused = client.post(f"/finance/sales/{sale_id}/bid", data={"csrf_token": csrf, "amount_yuan": typed},
                              follow_redirects=False)
        assert refused.status_code == status, refused.text
        assert words in refused.text
        assert f'value="{typed}"' in refused.text
        assert 'aria-invalid="true"' in refused.text
    assert db.scalar(select(func.count()).select_from(SaleBid)) == 0
    placed = client.post(f"/finance/sales/{sale_id}/bid", data={"csrf_token": csrf, "amount_yuan": "4,000,000"},
                         follow_redirects=False)
    assert placed.status_code == 303, placed.text
    shown = client.get(f"/finance/sales/{sale_id}")
    assert "领先" in shown.text
    assert "您的出价" in shown.text
    client.cookies.set("qs_lang", "en")
    english = client.get(f"/finance/sales/{sale_id}")
    for words in ("Reserve price", "<td>Leading</td>", "your bid"):  # the bid's status as a label
        assert words in english.text
    client.cookies.set("qs_lang", "zh")
    sign_in(client, asset.bank)
    assert 'id="bid-form"' not in client.get(f"/finance/sales/{sale_id}").text  # its own sale


def test_the_portal_offers_an_auction_from_the_lookup_page(client, db, make, asset, bearer) -> None:  # type: ignore[no-untyped-def]
    from tests.registry.helpers import sign_in

    pledge_id = _active_pledge(client, asset, bearer, asset.bank)
    csrf = sign_in(client, asset.bank)
    bad = client.post(f"/finance/pledges/{pledge_id}/enforce", follow_redirects=False, data={
        "csrf_token": csrf, "reason": "逾期", "mode": "sale", "price_yuan": "4000000", "closes_in_days": "45"})
    assert bad.status_code == 422
    assert 'value="45"' in bad.text
    assert db.get(Pledge, pledge_id).status == "active"
    ok = client.post(f"/finance/pledges/{pledge_id}/enforce", follow_redirects=False, data={
        "csrf_token": csrf, "reason": "逾期", "mode": "sale", "price_yuan": "4000000", "closes_in_days": "7",
        "step_yuan": "50000"})
    assert ok.status_code == 303, ok.text
    offered = db.scalar(select(ForcedSale).where(ForcedSale.pledge_id == pledge_id))
    assert (offered.price_fen, offered.step_fen, offered.closes_at is not None) == (RESERVE, 5_000_000, True)


def test_closing_is_idempotent_in_process(db, settings, client, make, asset, bearer) -> None:  # type: ignore[no-untyped-def]
    _pledge_id, offered = _auction(client, db, asset, bearer, days=0)
    _fund(db, make, asset, asset.stranger, RESERVE, "BID-5")
    assert _bid(client, bearer, asset.stranger, offered["id"], RESERVE).status_code == 201
    _past_closing(db, offered["id"])
    signer = load_signer(settings.key_dir)
    first = auction.close_sale(db, settings, signer, offered["id"])
    moved = len(ledger.transfers_by_cause(db, "forced_sale", offered["id"]))
    again = auction.close_sale(db, settings, signer, offered["id"])
    assert (first.status, again.status) == ("sold", "sold")
    assert len(ledger.transfers_by_cause(db, "forced_sale", offered["id"])) == moved


def test_the_product_page_says_the_asset_is_on_forced_sale_while_it_is_open(  # type: ignore[no-untyped-def]
        client, db, make, asset, bearer) -> None:
    from qianshu.catalog import service as catalog
    from qianshu.catalog.schemas import ListingIn, PlanIn

    holder = make.actor(asset.holder)
    listing = catalog.create_listing(db, holder, ListingIn(registration_id=asset.registration_id))
    catalog.add_plan(db, holder, listing.id, PlanIn(kind="one_time", price="1200", delivery_modes=["download"]))
    catalog.submit_listing(db, holder, listing.id, confirm_personal_data=True)
    catalog.review_listing(db, make.actor(make.operator()), listing.id, "approve")
    db.flush()
    assert 'id="forced-sale-panel"' not in client.get(f"/catalog/{listing.id}").text
    _pledge_id, offered = _auction(client, db, asset, bearer, days=0)
    page = client.get(f"/catalog/{listing.id}")
    assert page.status_code == 200
    assert f'href="/finance/sales/{offered["id"]}"' in page.text
    assert "强制出售中：出价" in page.text
    client.cookies.set("qs_lang", "en")
    assert "On forced sale: bid" in client.get(f"/catalog/{listing.id}").text
    client.cookies.set("qs_lang", "zh")
    client.post(f"/api/v1/finance/forced-sales/{offered['id']}/withdraw", json={}, headers=bearer(asset.bank))
    assert 'id="forced-sale-panel"' not in client.get(f"/catalog/{listing.id}").text
