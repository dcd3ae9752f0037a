"""Exchange routes by role. The trades here are between two other organisations (a seller and a
buyer neither of which is the acting user's), so only exchange staff see them and only operators
may act on them alone; ordering needs an approved organisation; "my trades" any signed-in user."""

from __future__ import annotations

from typing import Any

from qianshu.catalog import permissions as catalog_permissions
from qianshu.catalog.models import Listing
from qianshu.core.actor import Actor
from qianshu.exchange import changes, contracts, orders, payments, refunds, service
from qianshu.exchange.permissions import trade
from qianshu.exchange.schemas import ChangeIn, OrderIn
from qianshu.ledger import service as ledger
from tests.catalog.permission_rows import _listing
from tests.permission_support import EVERYONE, Row

SCENARIO = "城市交通拥堵分析与信号灯配时优化研究"
ORDER = lambda c: {"order_id": c["other_order"]}  # noqa: E731 - table of small lambdas
CONTRACT = lambda c: {"contract_id": c["other_contract"]}  # noqa: E731
REFUND_REQUEST = lambda c: {"request_id": c["refund_request"]}  # noqa: E731
CHANGE = ChangeIn(kind="amend", price="99", reason="矩阵测试")


def _on_order(action: str, body: dict[str, Any] | None = None) -> Row:
    return Row(params=ORDER, body=lambda c: body or {}, action=action, on="other_order")


def _on_contract(action: str, body: dict[str, Any] | None = None, on: str = "other_contract") -> Row:
    return Row(params=lambda c: {"contract_id": c[on]}, body=lambda c: body or {}, action=action, on=on)


A = "/api/v1/exchange"
ROWS = {
    ("GET", "/statistics"): Row(EVERYONE, action="exchange.statistics"),
    ("GET", "/statistics/{name}.csv"): Row(EVERYONE, params=lambda c: {"name": "by_month"},
                                            action="exchange.statistics"),
    ("GET", "/api/v1/exchange/statistics"): Row(EVERYONE, action="exchange.statistics"),
    ("POST", f"{A}/orders"): Row(body=lambda c: {"listing_id": c["ex_listing"], "plan_id": c["ex_plan"],
                                                 "purpose": "research", "scenario": SCENARIO},
                                 action="exchange.order", on="ex_product"),
    ("GET", f"{A}/orders/{{order_id}}"): Row(params=ORDER, action="trade.read", on="other_order"),
    ("GET", f"{A}/orders/{{order_id}}/timeline"): Row(params=ORDER, action="trade.read", on="other_order"),
    ("POST", f"{A}/orders/{{order_id}}/accept"): _on_order("order.answer"),
    ("POST", f"{A}/orders/{{order_id}}/quote"): _on_order("order.answer", {"price": "100"}),
    ("POST", f"{A}/orders/{{order_id}}/refuse"): _on_order("order.answer", {"reason": "不服务"}),
    ("POST", f"{A}/orders/{{order_id}}/accept-quote"): _on_order("order.decide"),
    ("POST", f"{A}/orders/{{order_id}}/withdraw"): _on_order("order.decide"),
    ("GET", f"{A}/trades"): Row(action="exchange.mine"),
    ("GET", f"{A}/contracts/{{contract_id}}"): Row(params=CONTRACT, action="trade.read", on="other_contract"),
    ("GET", f"{A}/contracts/{{contract_id}}/text"): Row(params=CONTRACT, action="trade.read", on="other_contract"),
    ("GET", f"{A}/contracts/{{contract_id}}/pdf"): Row(params=CONTRACT, action="trade.read", on="other_contract"),
    ("POST", f"{A}/contracts/{{contract_id}}/sign"): _on_contract("contract.sign", on="pending_contract"),
    ("POST", f"{A}/contracts/{{contract_id}}/decline"): _on_contract("contract.sign", {"reason": "x"},
                                                                      on="pending_contract"),
    ("POST", f"{A}/contracts/{{contract_id}}/changes"): _on_contract(
        "contract.change", {"kind": "terminate", "reason": "x"}),
    ("POST", f"{A}/contracts/{{contract_id}}/changes/{{change_id}}/{{decision}}"): Row(
        params=lambda c: {"contract_id": c["other_contract"], "change_id": c["other_change"], "decision": "agree"},
        action="contract.change", on="other_contract"),
    ("POST", f"{A}/contracts/{{contract_id}}/operate"): _on_contract(
        "contract.operate", {"kind": "amend", "price": "99", "reason": "运营人员变更"}),
    ("POST", f"{A}/contracts/{{contract_id}}/pay"): _on_contract("contract.pay"),
    ("POST", f"{A}/contracts/{{contract_id}}/renewal"): _on_contract("contract.pay", {"renews": False}),
    ("POST", f"{A}/contracts/{{contract_id}}/deliver"): _on_contract("contract.deliver"),
    ("POST", f"{A}/contracts/{{contract_id}}/accept-delivery"): _on_contract("contract.accept_delivery"),
    ("POST", f"{A}/contracts/{{contract_id}}/refund"): _on_contract("contract.refund",
                                                                     {"amount_fen": 100, "reason": "x"}),
    ("POST", f"{A}/contracts/{{contract_id}}/disputes"): _on_contract("contract.dispute", {"reason": "x"}),
    ("POST", f"{A}/disputes/{{dispute_id}}/decide"): Row(
        params=lambda c: {"dispute_id": c["other_dispute"]}, body=lambda c: {"decision": "release", "reason": "x"},
        action="contract.decide_dispute", on="disputed_contract"),
    ("POST", f"{A}/contracts/{{contract_id}}/refund-requests"): _on_contract(
        "contract.request_refund", {"amount_fen": 100, "reason": "矩阵测试退款"}, on="settled_contract"),
    ("GET", f"{A}/contracts/{{contract_id}}/refund-requests"): Row(params=CONTRACT, action="trade.read",
                                                                     on="other_contract"),
    ("GET", f"{A}/refund-requests/{{request_id}}"): Row(params=REFUND_REQUEST, action="trade.read",
                                                         on="settled_contract"),
    ("POST", f"{A}/refund-requests/{{request_id}}/answer"): Row(
        params=REFUND_REQUEST, body=lambda c: {"accept": False, "reason": "x"}, action="contract.answer_refund",
        on="settled_contract"),
    ("POST", f"{A}/refund-requests/{{request_id}}/escalate"): Row(
        params=REFUND_REQUEST, body=lambda c: {}, action="contract.request_refund", on="settled_contract"),
    ("POST", f"{A}/refund-requests/{{request_id}}/decide"): Row(
        params=REFUND_REQUEST, body=lambda c: {"decision": "reject", "reason": "x"},
        action="contract.decide_refund", on="settled_contract"),
    ("GET", f"{A}/bills"): Row(action="exchange.bills",
                               also=(Row(action="exchange.bills.all", query="?every=true"),)),
    ("GET", f"{A}/contracts/{{contract_id}}/bills"): Row(params=CONTRACT, action="trade.read", on="other_contract"),
    ("GET", f"{A}/contracts/{{contract_id}}/usage"): Row(params=CONTRACT, action="trade.read", on="other_contract"),
    ("GET", f"{A}/contracts/{{contract_id}}/periods"): Row(params=CONTRACT, action="trade.read",
                                                             on="other_contract"),
    # portal pages
    ("GET", "/exchange/bills"): Row(action="exchange.bills",
                                    also=(Row(action="exchange.bills.all", query="?every=1"),)),
    ("GET", "/exchange/bills.csv"): Row(action="exchange.bills",
                                        also=(Row(action="exchange.bills.all", query="?every=1"),)),
    ("GET", "/exchange/order"): Row(action="exchange.mine"),
    ("POST", "/exchange/orders"): Row(body=lambda c: {"listing_id": c["ex_listing"], "plan_id": c["ex_plan"],
                                                      "purpose": "research", "scenario": SCENARIO},
                                      action="exchange.order", on="ex_product"),
    ("GET", "/exchange/trades"): Row(action="exchange.mine"),
    ("GET", "/exchange/orders/{order_id:int}"): Row(params=ORDER, action="trade.read", on="other_order"),
    ("POST", "/exchange/orders/{order_id:int}/{action}"): Row(
        params=lambda c: {"order_id": c["other_order"], "action": "accept"}, action="order.answer", on="other_order"),
    ("GET", "/exchange/contracts/{contract_id:int}"): Row(params=CONTRACT, action="trade.read", on="other_contract"),
    ("POST", "/exchange/contracts/{contract_id:int}/{action}"): Row(
        params=lambda c: {"contract_id": c["pending_contract"], "action": "sign"}, action="contract.sign",
        on="pending_contract"),
}


def setup(ctx: dict[str, Any], db: Any, make: Any, actor: Actor | None, env: dict[str, Any]) -> None:
    operator = make.actor(make.operator())
    seller = make.actor(make.user())
    buyer = make.actor(make.user(organisation=make.org(org_type="buyer")))
    listing_id, plan_id = _listing(db, seller, operator, "listed")
    ctx["ex_listing"], ctx["ex_plan"] = listing_id, plan_id

    def contract(sign: bool = True) -> Any:
        order = orders.place_order(db, buyer, OrderIn(listing_id=listing_id, plan_id=plan_id, purpose="research",
                                                      scenario=SCENARIO))  # type: ignore[arg-type]
        made = orders.accept_order(db, seller, order.id)
        if sign:
            contracts.sign(db, buyer, made.id)
            contracts.sign(db, seller, made.id)
        return made

    ctx["other_order"] = orders.place_order(db, buyer, OrderIn(
        listing_id=listing_id, plan_id=plan_id, purpose="research", scenario=SCENARIO)).id  # type: ignore[arg-type]
    active, pending, disputed = contract(), contract(sign=False), contract()
    ctx["other_contract"], ctx["pending_contract"], ctx["disputed_contract"] = active.id, pending.id, disputed.id
    ctx["other_change"] = changes.propose_change(db, seller, active.id, CHANGE).id
    ledger.deposit(db, operator, org_id=buyer.org_id or 0, amount_fen=10_000_000, bank_reference=f"M-{buyer.org_id}")
    payments.pay(db, buyer, disputed.id)
    ctx["other_dispute"] = payments.raise_dispute(db, buyer, disputed.id, "矩阵测试争议").id
    settled = contract()
    payments.pay(db, buyer, settled.id)
    payments.deliver(db, seller, settled.id)
    payments.accept_delivery(db, buyer, settled.id)
    ctx["settled_contract"] = settled.id
    ctx["refund_request"] = refunds.request_refund(db, buyer, settled.id, 1_000, "矩阵测试退款申请").id
    ctx.setdefault("res", {}).update(
        ex_product=catalog_permissions.listing(db.get_one(Listing, listing_id)),
        other_order=trade(service.get_order(db, operator, ctx["other_order"])),
        other_contract=trade(active), pending_contract=trade(pending), disputed_contract=trade(disputed),
        settled_contract=trade(settled))
