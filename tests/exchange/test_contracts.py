"""Contracts against the real database: signatures and their hash, the public log, amendments and
early terminations by agreement or by the operator, whether a contract is in force, the PDF."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy.orm import Session

from qianshu.core import inbox
from qianshu.core.actor import Actor
from qianshu.core.canonical import canonical_json, sha256_hex
from qianshu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from qianshu.core.timeutil import as_utc, utcnow
from qianshu.exchange import changes, contracts, orders, payments, trades
from qianshu.exchange.models import Contract, Order
from qianshu.exchange.schemas import ChangeIn
from qianshu.registry.certificate import CID_FONT, certificate_font
from qianshu.translog.service import get_leaf
from tests.factories import Factories


def test_both_parties_sign_and_the_log_shows_hash_and_parties_not_price(
        db: Session, buyer: Actor, merchant: Actor, listed: Any, order: Callable[..., Order]) -> None:
    contract = orders.accept_order(db, merchant, order(listed(merchant)).id)
    assert contract.text_sha256 == sha256_hex(canonical_json(contract.document))
    with pytest.raises(Conflict) as stale:  # a signer who read another text is refused
        contracts.sign(db, buyer, contract.id, "0" * 64)
    assert stale.value.field == "text_sha256"
    contracts.sign(db, buyer, contract.id, contract.text_sha256)
    assert contract.status == "pending"
    assert trades.next_steps(db, merchant).contracts_to_sign == 1
    assert trades.next_steps(db, buyer).contracts_to_sign == 0
    with pytest.raises(Conflict):
        contracts.sign(db, buyer, contract.id)
    contracts.sign(db, merchant, contract.id)
    assert contract.status == "active"
    assert contract.starts_at is not None
    assert contract.ends_at is not None
    assert as_utc(contract.ends_at) - as_utc(contract.starts_at) == timedelta(days=365)
    sigs = {s.party: s for s in contract.signatures}
    assert sigs["buyer"].ip == "127.0.0.1"
    assert sigs["buyer"].user_id == buyer.user_id
    assert sigs["buyer"].text_sha256 == sigs["seller"].text_sha256 == contract.text_sha256
    leaf = get_leaf(db, sigs["seller"].log_index or 0)
    assert leaf.event_type == "exchange.contract_signed"
    payload = leaf.document["payload"]
    assert payload["text_sha256"] == contract.text_sha256
    assert payload["buyer_uscc"] == contract.document["buyer"]["uscc"]
    assert "price" not in str(payload)
    assert str(contract.price_fen) not in leaf.leaf.decode()
    assert any(n.subject_id == contract.id for n in inbox.inbox(db, buyer))


def test_the_price_is_published_in_the_log_only_when_the_parties_agreed(
        db: Session, buyer: Actor, merchant: Actor, listed: Any, order: Callable[..., Order]) -> None:
    """The buyer proposes it with the order, the seller agrees by accepting, both by signing the
    text that says so; then (and only then) the signature's and the amendment's leaves carry it."""
    placed = order(listed(merchant), publish_price=True)
    assert placed.publish_price
    contract = orders.accept_order(db, merchant, placed.id)
    assert contract.document["publish_price"] is True
    assert contract.text_sha256 == sha256_hex(canonical_json(contract.document))
    contracts.sign(db, buyer, contract.id)
    contracts.sign(db, merchant, contract.id)
    leaf = get_leaf(db, contract.signatures[0].log_index or 0)
    assert leaf.document["payload"]["price_fen"] == str(contract.price_fen)
    changes.operate(db, make_operator(db), contract.id, ChangeIn(kind="amend", price="999", reason="运营调整价格"))
    amended = [e for e in trades.timeline(db, buyer, contract.order_id) if e.step == "amended"][-1]
    assert get_leaf(db, amended.detail["log_index"]).document["payload"]["price_fen"] == "99900"
    quiet = orders.accept_order(db, merchant, order(listed(merchant)).id)
    assert "publish_price" not in quiet.document  # texts without it keep their exact former form


def make_operator(db: Session) -> Actor:
    make = Factories(db)
    return make.actor(make.operator())


def test_a_third_party_cannot_sign(db: Session, make: Factories, merchant: Actor, listed: Any,
                                   order: Callable[..., Order]) -> None:
    third = make.actor(make.user(organisation=make.org(org_type="buyer")))
    contract = orders.accept_order(db, merchant, order(listed(merchant)).id)
    with pytest.raises(NotFound):
        contracts.sign(db, third, contract.id)
    assert contract.signatures == []


def test_declined_contract_never_comes_into_force(db: Session, buyer: Actor, merchant: Actor, listed: Any,
                                                  order: Callable[..., Order]) -> None:
    contract = orders.accept_order(db, merchant, order(listed(merchant)).id)
    with pytest.raises(InvalidInput):
        contracts.decline(db, buyer, contract.id, "")
    contracts.decline(db, buyer, contract.id, "条款不符合我方要求")
    assert contract.status == "declined"
    with pytest.raises(Conflict):
        contracts.sign(db, merchant, contract.id)
    assert not contracts.contract_is_active(db, contract.id, "download")


def test_contract_is_active_for_its_use_until_its_term_ends(db: Session, buyer: Actor, fund: Any,
                                                            signed: Callable[..., Contract]) -> None:
    contract = signed()
    assert not contracts.contract_is_active(db, contract.id, "download")  # not paid yet
    fund(buyer, contract.price_fen)
    payments.pay(db, buyer, contract.id)
    start, end = as_utc(contract.starts_at), as_utc(contract.ends_at)  # type: ignore[arg-type]
    assert contracts.contract_is_active(db, contract.id, "download")
    assert contracts.contract_is_active(db, contract.id, "research")  # its purpose
    assert not contracts.contract_is_active(db, contract.id, "api")  # not its delivery mode
    assert not contracts.contract_is_active(db, contract.id, "marketing")
    assert not contracts.contract_is_active(db, contract.id, "download", at=start - timedelta(seconds=1))
    assert contracts.contract_is_active(db, contract.id, "download", at=end - timedelta(seconds=1))
    assert not contracts.contract_is_active(db, contract.id, "download", at=end)  # the moment it ends
    assert not contracts.contract_is_active(db, 10**9, "download")
    assert contracts.expire_due(db, now=end) == (0, 1)
    assert contract.status == "ended"
    notes = [n for n in inbox.inbox(db, buyer) if "QS-TC" in inbox.render(n, "zh") and "届满" in inbox.render(n, "zh")]
    assert notes  # the buyer is told, each reader in their own language (it was "term ended" to both)
    assert inbox.render(notes[0], "zh").endswith("：期限届满")
    assert inbox.render(notes[0], "en").endswith(": term ended")


def test_amendment_by_agreement_is_a_new_signed_version(db: Session, buyer: Actor, merchant: Actor,
                                                        signed: Callable[..., Contract]) -> None:
    contract = signed()
    first_hash = contract.text_sha256
    change = changes.propose_change(db, merchant, contract.id, ChangeIn(kind="amend", price="1500", reason="增加字段"))
    assert trades.next_steps(db, buyer).changes_to_decide == 1
    with pytest.raises(Conflict):  # the proposer cannot agree to its own proposal
        changes.decide_change(db, merchant, contract.id, change.id, True)
    with pytest.raises(Conflict):  # one proposal at a time
        changes.propose_change(db, buyer, contract.id, ChangeIn(kind="terminate", reason="x"))
    changes.decide_change(db, buyer, contract.id, change.id, True)
    assert (contract.text_version, contract.price_fen) == (2, 150_000)
    assert contract.document["price_fen"] == 150_000
    assert contract.document["version"] == 2
    assert contract.text_sha256 != first_hash
    assert contract.text_sha256 == sha256_hex(canonical_json(contract.document))
    assert contract.status == "active"


def test_amendment_needs_a_change(db: Session, merchant: Actor, signed: Callable[..., Contract]) -> None:
    contract = signed()
    with pytest.raises(InvalidInput) as caught:
        changes.propose_change(db, merchant, contract.id, ChangeIn(kind="amend", reason="无"))
    assert caught.value.field == "price"


def test_early_termination_by_agreement_ends_access_at_once(db: Session, buyer: Actor, merchant: Actor,
                                                           signed: Callable[..., Contract], fund: Any) -> None:
    contract = signed()
    fund(buyer, contract.price_fen)
    payments.pay(db, buyer, contract.id)
    assert contracts.contract_is_active(db, contract.id, "download")
    change = changes.propose_change(db, buyer, contract.id, ChangeIn(kind="terminate", reason="项目提前结束"))
    rejected = changes.decide_change(db, merchant, contract.id, change.id, False)
    assert rejected.status == "rejected"
    assert contract.status == "active"
    change = changes.propose_change(db, buyer, contract.id, ChangeIn(kind="terminate", reason="项目提前结束"))
    changes.decide_change(db, merchant, contract.id, change.id, True)
    assert contract.status == "terminated"
    assert not contracts.contract_is_active(db, contract.id, "download")
    leaves = [e.detail.get("log_index") for e in trades.timeline(db, buyer, contract.order_id)
              if e.step == "terminated"]
    assert get_leaf(db, leaves[0]).event_type == "exchange.contract_terminated"
    # the parties are told in a sentence: the status reads lowercase inside it, a label on the page
    told = [inbox.render(n, "en") for n in inbox.inbox(db, buyer)]
    assert f"Contract {contract.number} is terminated: 项目提前结束" in told
    assert f"合同 {contract.number} 已终止：项目提前结束" in [inbox.render(n, "zh") for n in inbox.inbox(db, buyer)]


def test_only_the_operator_terminates_alone(db: Session, buyer: Actor, operator: Actor,
                                            signed: Callable[..., Contract]) -> None:
    contract = signed()
    with pytest.raises(PermissionDenied):
        changes.operate(db, buyer, contract.id, ChangeIn(kind="terminate", reason="单方终止"))
    changes.operate(db, operator, contract.id, ChangeIn(kind="terminate", reason="违反使用政策，经核实终止"))
    assert contract.status == "terminated"
    assert contract.end_reason.startswith("违反")
    with pytest.raises(Conflict):
        changes.operate(db, operator, contract.id, ChangeIn(kind="amend", price="1", reason="x"))


def test_pdf_is_bilingual_with_the_hash(db: Session, buyer: Actor, signed: Callable[..., Contract]) -> None:
    contract = signed()
    number, pdf = contracts.contract_pdf(db, buyer, contract.id)
    assert number == contract.number
    assert pdf.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert contract.text_sha256 in re.sub(r"\s", "", text)  # all of it, wrapped
    assert "Buyer" in text
    assert "Data Trading Contract" in text
    font, embedded = certificate_font("")
    if embedded:  # this machine has a Chinese TrueType font: the PDF carries it
        assert b"/FontFile2" in pdf or b"/FontFile3" in pdf
    else:
        assert font == CID_FONT
        assert b"/STSong-Light" in pdf


def test_timeline_and_my_trades(db: Session, buyer: Actor, merchant: Actor, signed: Callable[..., Contract],
                                listed: Any, order: Callable[..., Order]) -> None:
    contract = signed()
    open_order = order(listed(merchant))
    steps = [e.step for e in trades.timeline(db, buyer, contract.order_id)]
    assert steps == ["order_placed", "order_accepted", "contract_drawn_up", "signed", "signed", "in_force"]
    mine = trades.my_trades(db, buyer)
    assert [c.id for c in mine.contracts] == [contract.id]
    assert [o.id for o in mine.orders] == [open_order.id]
    assert trades.my_trades(db, merchant).contracts[0].id == contract.id
    assert utcnow() > as_utc(contract.starts_at)  # type: ignore[arg-type]
