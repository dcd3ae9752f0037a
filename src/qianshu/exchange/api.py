"""REST routes of the exchange under /api/v1/exchange. Handlers only translate HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from qianshu.accounts.deps import CurrentActor, SignedInActor
from qianshu.core.actor import Actor
from qianshu.core.canonical import canonical_json
from qianshu.core.http import DbSession, get_settings_dep, idempotent
from qianshu.core.openapi import problems
from qianshu.exchange import bills, changes, contracts, orders, payments, read_models, refunds, renewals, service
from qianshu.exchange import schemas as s
from qianshu.exchange import trades as trade_reads  # the route ``trades`` below takes the module's name
from qianshu.exchange.models import RefundRequest
from qianshu.exchange.settings import ExchangeSettings
from qianshu.ledger.settings import LedgerSettings
from qianshu.registry.settings import RegistrySettings

router = APIRouter(prefix="/api/v1/exchange", tags=["exchange"])


@router.post("/orders", response_model=s.OrderOut, status_code=201, responses=problems(403, 422),
             summary="Order a plan of a listed product, or ask for a quote")
def place_order(data: s.OrderIn, db: DbSession, actor: SignedInActor) -> object:
    return orders.place_order(db, actor, data)


@router.get("/orders/{order_id}", response_model=s.OrderOut, responses=problems(404), summary="An order")
def get_order(order_id: int, db: DbSession, actor: SignedInActor) -> object:
    return service.get_order(db, actor, order_id)


@router.get("/orders/{order_id}/timeline", response_model=list[s.TimelineOut], responses=problems(404),
            summary="Every step of an order and its contract")
def timeline(order_id: int, db: DbSession, actor: SignedInActor) -> object:
    return trade_reads.timeline(db, actor, order_id)


@router.post("/orders/{order_id}/accept", response_model=s.ContractOut, responses=problems(404, 409),
             summary="Accept an order at the plan's price (the seller): the contract is drawn up")
def accept_order(order_id: int, db: DbSession, actor: SignedInActor) -> object:
    return orders.accept_order(db, actor, order_id)


@router.post("/orders/{order_id}/quote", response_model=s.OrderOut, responses=problems(404, 409, 422),
             summary="Answer with a price, terms and an expiry (the seller)")
def quote(order_id: int, data: s.QuoteIn, request: Request, db: DbSession, actor: SignedInActor) -> object:
    return orders.quote(db, actor, order_id, data, get_settings_dep(request).section(ExchangeSettings))


@router.post("/orders/{order_id}/refuse", response_model=s.OrderOut, responses=problems(404, 409, 422),
             summary="Refuse an order, saying why (the seller)")
def refuse(order_id: int, data: s.ReasonIn, db: DbSession, actor: SignedInActor) -> object:
    return orders.refuse(db, actor, order_id, data.reason)


@router.post("/orders/{order_id}/accept-quote", response_model=s.ContractOut, responses=problems(404, 409),
             summary="Accept a quote before it expires (the buyer): the contract is drawn up")
def accept_quote(order_id: int, db: DbSession, actor: SignedInActor) -> object:
    return orders.accept_quote(db, actor, order_id)


@router.post("/orders/{order_id}/withdraw", response_model=s.OrderOut, responses=problems(404, 409),
             summary="Withdraw an open order (the buyer)")
def withdraw(order_id: int, data: s.ReasonIn, db: DbSession, actor: SignedInActor) -> object:
    return orders.withdraw(db, actor, order_id, data.reason)


@router.get("/trades", response_model=s.TradesOut, summary="Your organisation's orders and contracts")
def trades(db: DbSession, actor: SignedInActor,
           before: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="only contracts older than this "
                                               "contract id: the id of the last contract of the previous page")]
           = None) -> object:
    """The newest 100 open orders and the newest 100 contracts (older ones with ``before``)."""
    found = trade_reads.my_trades(db, actor, before)
    return {"orders": found.orders, "contracts": found.contracts}


@router.get("/contracts/{contract_id}", response_model=s.ContractOut, responses=problems(404), summary="A contract")
def get_contract(contract_id: int, db: DbSession, actor: SignedInActor) -> object:
    return service.get_contract(db, actor, contract_id)


@router.get("/contracts/{contract_id}/text", responses=problems(404),
            summary="The exact contract text (RFC 8785 canonical JSON) whose SHA-256 the parties sign")
def contract_text(contract_id: int, db: DbSession, actor: SignedInActor) -> Response:
    contract = service.get_contract(db, actor, contract_id)
    return Response(canonical_json(contract.document), media_type="application/json",
                    headers={"X-Content-SHA256": contract.text_sha256})


@router.get("/contracts/{contract_id}/pdf", responses=problems(404), summary="The contract as a bilingual PDF")
def contract_pdf(contract_id: int, request: Request, db: DbSession, actor: SignedInActor) -> Response:
    font = get_settings_dep(request).section(RegistrySettings).certificate_font_path
    number, pdf = contracts.contract_pdf(db, actor, contract_id, font)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{number}.pdf"'})


@router.post("/contracts/{contract_id}/sign", response_model=s.ContractOut, responses=problems(404, 409),
             summary="Accept the contract's current text (either party)")
def sign(contract_id: int, db: DbSession, actor: SignedInActor, data: s.SignIn | None = None) -> object:
    signed = contracts.sign(db, actor, contract_id, data.text_sha256 if data else "")
    # The second signature holds the public log's sequencer, one lock for the whole exchange:
    # committed here, on the handler's thread, as a money step is (core.http.idempotent).
    db.commit()
    return signed


@router.post("/contracts/{contract_id}/decline", response_model=s.ContractOut, responses=problems(404, 409, 422),
             summary="Decline a contract not yet in force (either party)")
def decline(contract_id: int, data: s.ReasonIn, db: DbSession, actor: SignedInActor) -> object:
    return contracts.decline(db, actor, contract_id, data.reason)


@router.post("/contracts/{contract_id}/changes", response_model=s.ChangeOut, status_code=201,
             responses=problems(404, 409, 422), summary="Propose an amendment or an early termination")
def propose_change(contract_id: int, data: s.ChangeIn, db: DbSession, actor: SignedInActor) -> object:
    return changes.propose_change(db, actor, contract_id, data)


@router.post("/contracts/{contract_id}/changes/{change_id}/{decision}", response_model=s.ChangeOut,
             responses=problems(404, 409), summary="Agree to or reject the other party's proposal")
def decide_change(contract_id: int, change_id: int, decision: Literal["agree", "reject"], db: DbSession,
                  actor: SignedInActor) -> object:
    return changes.decide_change(db, actor, contract_id, change_id, decision == "agree")


@router.post("/contracts/{contract_id}/operate", response_model=s.ContractOut, responses=problems(403, 404, 409),
             summary="Amend or terminate a contract as the exchange operator, with a written reason")
def operate(contract_id: int, data: s.ChangeIn, db: DbSession, actor: SignedInActor) -> object:
    return changes.operate(db, actor, contract_id, data)


@router.post("/contracts/{contract_id}/renewal", response_model=s.ContractOut, responses=problems(404, 409),
             summary="Stop or resume the renewal of a subscription (the buyer)")
def set_renewal(contract_id: int, data: s.RenewalIn, db: DbSession, actor: SignedInActor) -> object:
    return renewals.set_renewal(db, actor, contract_id, data.renews)


# --- money: every call takes an Idempotency-Key (core/idempotency.py) ---------------------------

IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", max_length=255,
                                       description="Any unique text; a repeat returns the first answer.")]


def _once(request: Request, db: DbSession, actor: Actor, body: Any, work: Callable[[], Any],
          out: type[Any] = s.ContractOut, last: list[Callable[[], None]] | None = None) -> JSONResponse:
    """``work`` once per Idempotency-Key; the caller has checked the actor's permission first.
    ``last``: what ``work`` left to run after the answer is stored (``escrow.settle``)."""
    ttl = get_settings_dep(request).section(LedgerSettings).idempotency_ttl
    caller = f"user:{actor.user_id}" if actor.user_id is not None else f"org:{actor.org_id}"
    return idempotent(request, db, caller, body, ttl,
                      lambda: out.model_validate(work()).model_dump(mode="json"), status_code=200,
                      last=() if last is None else last)


def _settings(request: Request) -> ExchangeSettings:
    return get_settings_dep(request).section(ExchangeSettings)


@router.post("/contracts/{contract_id}/pay", response_model=s.ContractOut, responses=problems(404, 409, 422),
             summary="Pay the price from your wallet into escrow (the buyer)")
def pay(contract_id: int, request: Request, db: DbSession, actor: SignedInActor,
        key: IdempotencyKey = "") -> JSONResponse:
    contract = payments.authorise(db, actor, "contract.pay", contract_id=contract_id)
    return _once(request, db, actor, {}, lambda: payments.pay(db, actor, contract.id))


def _period(data: s.PeriodIn | None) -> tuple[dict[str, Any], int | None]:
    """The optional body naming a renewed period (none: the first period; the key's body is {})."""
    return (data.model_dump(exclude_none=True), data.period) if data is not None else ({}, None)


@router.post("/contracts/{contract_id}/deliver", response_model=s.ContractOut, responses=problems(404, 409, 422),
             summary="Mark a paid contract, or a renewed period ({period}), delivered (the seller)")
def deliver(contract_id: int, request: Request, db: DbSession, actor: SignedInActor,
            key: IdempotencyKey = "", data: s.PeriodIn | None = None) -> JSONResponse:
    contract = payments.authorise(db, actor, "contract.deliver", contract_id=contract_id)
    body, period = _period(data)
    return _once(request, db, actor, body, lambda: renewals.deliver(db, actor, contract.id, period))


@router.post("/contracts/{contract_id}/accept-delivery", response_model=s.ContractOut,
             responses=problems(404, 409, 422),
             summary="Accept the delivery (of a renewed period: {period}): the seller is paid, the fee booked")
def accept_delivery(contract_id: int, request: Request, db: DbSession, actor: SignedInActor,
                    key: IdempotencyKey = "", data: s.PeriodIn | None = None) -> JSONResponse:
    contract = payments.authorise(db, actor, "contract.accept_delivery", contract_id=contract_id)
    body, period = _period(data)
    # The transfers and the log leaf, which lock rows every settlement shares, run after the answer
    # is built and stored, just before the commit (docs/exchange.md, "Performance").
    last: list[Callable[[], None]] = []
    return _once(request, db, actor, body,
                 lambda: renewals.accept_delivery(db, actor, contract.id, _settings(request), period, last=last),
                 last=last)


@router.get("/contracts/{contract_id}/periods", response_model=list[s.PeriodOut], responses=problems(404),
            summary="A subscription's renewed periods (2, 3 …) and where each one's money is")
def periods(contract_id: int, db: DbSession, actor: SignedInActor) -> object:
    return renewals.periods_of(db, service.get_contract(db, actor, contract_id))


@router.post("/contracts/{contract_id}/refund", response_model=s.ContractOut, responses=problems(404, 409, 422),
             summary="Refund all or part of the escrowed price (the seller or an operator)")
def refund(contract_id: int, data: s.RefundIn, request: Request, db: DbSession, actor: SignedInActor,
           key: IdempotencyKey = "") -> JSONResponse:
    payments.authorise(db, actor, "contract.refund", contract_id=contract_id)
    return _once(request, db, actor, data.model_dump(),
                 lambda: renewals.refund(db, actor, contract_id, data.amount_fen, data.reason, data.period))


@router.post("/contracts/{contract_id}/disputes", response_model=s.DisputeOut, responses=problems(404, 409, 422),
             summary="Dispute a paid contract (either party): settlement waits for an operator")
def raise_dispute(contract_id: int, data: s.DisputeIn, request: Request, db: DbSession, actor: SignedInActor,
                  key: IdempotencyKey = "") -> JSONResponse:
    payments.authorise(db, actor, "contract.dispute", contract_id=contract_id)
    return _once(request, db, actor, data.model_dump(),
                 lambda: renewals.raise_dispute(db, actor, contract_id, data.reason, data.period), s.DisputeOut)


@router.post("/disputes/{dispute_id}/decide", response_model=s.DisputeOut, responses=problems(403, 404, 409, 422),
             summary="Decide a dispute with a written reason (operators)")
def decide_dispute(dispute_id: int, data: s.DecisionIn, request: Request, db: DbSession, actor: SignedInActor,
                   key: IdempotencyKey = "") -> JSONResponse:
    payments.authorise(db, actor, "contract.decide_dispute", dispute_id=dispute_id)
    return _once(request, db, actor, data.model_dump(),
                 lambda: payments.decide_dispute(db, actor, dispute_id, data.decision, data.reason, data.refund_fen,
                                                 _settings(request)), s.DisputeOut)


# --- refund requests after settlement (exchange/refunds.py) -------------------------------------


def _refund_out(request: Request, found: RefundRequest) -> s.RefundRequestOut:
    """A refund request as the API shows it: with the deadline to escalate a refusal."""
    return s.RefundRequestOut.of(found, refunds.escalation_ends(found, _settings(request)))


@router.post("/contracts/{contract_id}/refund-requests", response_model=s.RefundRequestOut,
             responses=problems(403, 404, 409, 422),
             summary="Ask the seller for a refund after settlement (the buyer), within the settings' window")
def request_refund(contract_id: int, data: s.RefundRequestIn, request: Request, db: DbSession,
                   actor: SignedInActor, key: IdempotencyKey = "") -> JSONResponse:
    refunds.authorise(db, actor, "contract.request_refund", contract_id=contract_id)
    return _once(request, db, actor, data.model_dump(),
                 lambda: _refund_out(request, refunds.request_refund(
                     db, actor, contract_id, data.amount_fen, data.reason, _settings(request), period=data.period,
                     bill_id=data.bill_id)), s.RefundRequestOut)


@router.get("/contracts/{contract_id}/refund-requests", response_model=list[s.RefundRequestOut],
            responses=problems(404), summary="A contract's refund requests and their answers")
def list_refund_requests(contract_id: int, request: Request, db: DbSession, actor: SignedInActor) -> object:
    return [_refund_out(request, r) for r in refunds.requests_of(db, service.get_contract(db, actor, contract_id))]


@router.get("/refund-requests/{request_id}", response_model=s.RefundRequestOut, responses=problems(404),
            summary="A refund request")
def get_refund_request(request_id: int, request: Request, db: DbSession, actor: SignedInActor) -> object:
    return _refund_out(request, refunds.get_request(db, actor, request_id))


@router.post("/refund-requests/{request_id}/answer", response_model=s.RefundRequestOut,
             responses=problems(403, 404, 409, 422),
             summary="Accept (the refund is paid at once) or refuse, with a reason, a refund request (the seller)")
def answer_refund(request_id: int, data: s.RefundAnswerIn, request: Request, db: DbSession, actor: SignedInActor,
                  key: IdempotencyKey = "") -> JSONResponse:
    refunds.authorise(db, actor, "contract.answer_refund", request_id=request_id)
    return _once(request, db, actor, data.model_dump(),
                 lambda: _refund_out(request, refunds.answer_refund(db, actor, request_id, data.accept, data.reason,
                                                                    settings=_settings(request))), s.RefundRequestOut)


@router.post("/refund-requests/{request_id}/escalate", response_model=s.RefundRequestOut,
             responses=problems(403, 404, 409),
             summary="Take a refused refund request to the exchange's operators (the buyer), within "
                     "refund_escalation_days of the refusal")
def escalate_refund(request_id: int, request: Request, db: DbSession, actor: SignedInActor,
                    key: IdempotencyKey = "") -> JSONResponse:
    refunds.authorise(db, actor, "contract.request_refund", request_id=request_id)
    return _once(request, db, actor, {},
                 lambda: _refund_out(request, refunds.escalate(db, actor, request_id, settings=_settings(request))),
                 s.RefundRequestOut)


@router.post("/refund-requests/{request_id}/decide", response_model=s.RefundRequestOut,
             responses=problems(403, 404, 409, 422),
             summary="Grant (all or part) or reject an escalated refund request, with a written reason (operators)")
def decide_refund(request_id: int, data: s.RefundDecisionIn, request: Request, db: DbSession,
                  actor: SignedInActor, key: IdempotencyKey = "") -> JSONResponse:
    refunds.authorise(db, actor, "contract.decide_refund", request_id=request_id)
    return _once(request, db, actor, data.model_dump(),
                 lambda: _refund_out(request, refunds.decide_refund(db, actor, request_id, data.decision == "grant",
                                                                    data.reason, data.refund_fen)), s.RefundRequestOut)


# --- usage bills of metered contracts (exchange/bills.py) -----------------------------------------


@router.get("/bills", response_model=list[s.BillOut], responses=problems(403),
            summary="Usage bills of metered contracts: your organisation's, or every one (operators, every=true)")
def list_bills(db: DbSession, actor: SignedInActor, every: bool = False,
               status: Literal["", "paid", "short", "retrying"] = "") -> object:
    return bills.list_bills(db, actor, every=every, status=status)


@router.get("/contracts/{contract_id}/bills", response_model=list[s.BillOut], responses=problems(404),
            summary="A metered contract's usage bills")
def contract_bills(contract_id: int, db: DbSession, actor: SignedInActor) -> object:
    return bills.contract_bills(db, actor, contract_id)


@router.get("/contracts/{contract_id}/usage", response_model=list[s.UsageSoFarOut], responses=problems(404),
            summary="A metered contract's usage not yet billed: this month's so far with its estimated charge")
def contract_usage(contract_id: int, db: DbSession, actor: SignedInActor) -> object:
    return bills.usage_so_far(db, actor, contract_id)


@router.get("/statistics", summary="Public statistics of the exchange",
            responses=problems(422))
def statistics(db: DbSession, actor: CurrentActor) -> dict[str, Any]:
    """Transactions (contracts both parties signed, and asset transfers by forced sale) and turnover
    (in fen, net of refunds: prepaid contracts' and transfers' prices, renewed periods of
    subscriptions and paid usage bills; its parts in ``turnover_parts_fen``) by month, industry,
    region, delivery mode and product; products listed and resources registered over time
    (cumulative, by month, Asia/Shanghai)."""
    stats = read_models.public_statistics(db, actor).stats  # the page's read model: one check of the policy
    return {"transactions": stats.transactions, "turnover_fen": stats.turnover_fen,
            "turnover_parts_fen": stats.parts,
            "products_listed": stats.products_listed, "resources_registered": stats.resources_registered,
            "series": {name: [{"key": p.key, "label_zh": p.label_zh, "label_en": p.label_en, "count": p.count,
                               "amount_fen": p.amount_fen} for p in points]
                       for name, points in stats.series.items()}}
