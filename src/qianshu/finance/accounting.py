"""The accounting pack: booking registered data as an asset under the Ministry of Finance's interim
provisions on accounting for enterprise data resources (《企业数据资源相关会计处理暂行规定》,
财会〔2023〕11号, in force since 1 January 2024).

For each of a holder's issued registrations Qianshu collects the costs along the asset's life
from its own records — the costs the holder enters (acquisition, collection, processing,
labour, rights confirmation, quality assessment, registration, storage, appraisal, other) and,
from the ledger, the exchange's fees and the licence income of the asset's settled contracts —
proposes **intangible asset** (CAS 6) or **inventory** (CAS 1) with its reasons, and computes the
disclosure items. Rules (integer fen throughout, every figure can be checked by hand):

* **Capitalised** are the directly attributable costs incurred up to the day the asset was ready
  for use — the day its certificate was issued — in the categories the provisions name
  (purchase price, collection, desensitisation/cleaning/labelling/integration as processing,
  labour, rights confirmation, quality assessment, registration, storage and security); an
  appraisal, "other" costs and anything incurred later are **expensed**, as are the exchange's
  fees on the asset's sales (selling costs).
* No capitalised cost → **not recognised** (the cost cannot be measured reliably); the holder's
  choice ``for_sale`` → **inventory**; otherwise (own use, or licences sold on the exchange while
  the holder keeps the data) → **intangible asset**.
* Intangible: straight-line amortisation over the useful life in months, counting the month the
  certificate was issued (当月增加当月摊销): accumulated = cost × months ÷ life (rounded down, at
  most the cost); the year's amortisation is the accumulated at the date less the accumulated at
  the end of the previous year. **Impairment** when the latest signed valuation is below the
  carrying amount: the difference.
* Inventory: lower of cost and net realisable value, the latest signed valuation standing for the
  latter: write-down = cost − valuation when positive.
* **Restrictions**: every open pledge (the bank, the secured amount, the maturity).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.core import audit, policy
from qianshu.core.actor import Actor
from qianshu.core.errors import Conflict, NotFound
from qianshu.core.i18n import N_
from qianshu.core.policy import Resource
from qianshu.core.timeutil import SHANGHAI, utcnow
from qianshu.exchange import trades as exchange_trades
from qianshu.finance import schemas
from qianshu.finance.models import AccountingChoice, AssetCost
from qianshu.finance.service import latest_signed_valuation, open_pledges_of
from qianshu.registry import service as registry

CAPITALISABLE = ("acquisition", "collection", "processing", "labour", "rights", "quality", "registration", "storage")
ACQUISITION = {"purchased": "purchased", "own_collection": "self_developed"}  # else "other"
DEFAULT_LIFE_MONTHS = 60


@dataclass
class CostLine:
    source: str  # "entered" (by the holder) | "ledger" (the exchange's fee on a settled contract)
    category: str
    amount_fen: int
    on: date
    note: str
    capitalised: bool
    id: int | None = None


@dataclass
class AssetPack:
    """Every disclosure item of one data asset on ``as_of``."""

    registration_id: int
    number: str
    title_zh: str
    title_en: str
    industry_code: str
    source: str
    rights: list[str]
    acquisition: str  # purchased | self_developed | other
    rows: int | None
    columns: int | None
    size_bytes: int | None
    ready_on: date
    intent: str
    useful_life_months: int
    classification: str = "not_recognised"  # intangible | inventory | not_recognised
    reasons: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    costs: list[CostLine] = field(default_factory=list)
    cost_fen: int = 0  # capitalised: the original book value
    expensed_fen: int = 0
    months_amortised: int = 0
    accumulated_fen: int = 0
    period_amortisation_fen: int = 0
    impairment_fen: int = 0  # intangible: impairment; inventory: write-down to net realisable value
    book_value_fen: int = 0
    valuation_fen: int | None = None
    income_fen: int = 0  # licence income of settled contracts (before the exchange's fee)
    contracts: int = 0
    restrictions: list[dict[str, Any]] = field(default_factory=list)
    remaining_months: int = 0


@dataclass
class Pack:
    org_id: int
    org_name: str
    uscc: str
    as_of: date
    assets: list[AssetPack]

    def table(self, classification: str) -> list[dict[str, Any]]:
        """The disclosure table of one class, by acquisition method, with a total row."""
        rows = []
        for method in ("purchased", "self_developed", "other", "total"):
            mine = [a for a in self.assets if a.classification == classification
                    and (method == "total" or a.acquisition == method)]
            rows.append({"method": method, "count": len(mine), "cost_fen": sum(a.cost_fen for a in mine),
                         "accumulated_fen": sum(a.accumulated_fen for a in mine),
                         "impairment_fen": sum(a.impairment_fen for a in mine),
                         "book_value_fen": sum(a.book_value_fen for a in mine),
                         "period_amortisation_fen": sum(a.period_amortisation_fen for a in mine)})
        return rows


def _months_between(start: date, end: date) -> int:
    """Months from ``start``'s month to ``end``'s, both counted (0 when ``end`` is earlier)."""
    return max(0, (end.year - start.year) * 12 + end.month - start.month + 1)


def amortised(cost_fen: int, life_months: int, ready_on: date, day: date) -> tuple[int, int]:
    """(months amortised, accumulated amortisation) on ``day``: straight line, rounded down."""
    months = min(_months_between(ready_on, day), life_months)
    return months, cost_fen * months // life_months


def holder_resource(org_id: int) -> Resource:
    """An organisation's accounting pack, as ``finance.accounting`` sees it (the read model asks too)."""
    return Resource(org_id=org_id)


def _own_registration(db: Session, actor: Actor, registration_id: int) -> Any:
    policy.require(actor, "finance.accounting", holder_resource(actor.org_id or 0))
    reg = registry.find_registration(db, registration_id)
    if reg is None or reg.holder_org_id != actor.org_id:
        raise NotFound("No such registration of your organisation.", field="registration_id")
    if reg.status != "issued" or reg.issued_at is None:
        raise Conflict("Only an asset with an issued certificate is booked.", field="registration_id",
                       code="not_issued")
    return reg


def add_cost(db: Session, actor: Actor, data: schemas.AssetCostIn) -> AssetCost:
    reg = _own_registration(db, actor, data.registration_id)
    cost = AssetCost(registration_id=reg.id, org_id=reg.holder_org_id, category=data.category,
                     amount_fen=data.amount_fen, incurred_on=data.incurred_on, note=data.note,
                     created_by=actor.user_id)
    db.add(cost)
    db.flush()
    audit.record(db, actor, "finance.accounting.cost_added", target_type="registration", target_id=reg.id,
                 target_org_id=reg.holder_org_id, category=data.category, amount_fen=data.amount_fen)
    return cost


def remove_cost(db: Session, actor: Actor, cost_id: int) -> None:
    cost = db.get(AssetCost, cost_id)
    if cost is None or cost.org_id != actor.org_id:
        raise NotFound("No such cost of your organisation.", field="cost_id")
    _own_registration(db, actor, cost.registration_id)
    audit.record(db, actor, "finance.accounting.cost_removed", target_type="registration",
                 target_id=cost.registration_id, target_org_id=cost.org_id, amount_fen=cost.amount_fen)
    db.delete(cost)
    db.flush()


def set_choice(db: Session, actor: Actor, data: schemas.AccountingChoiceIn) -> AccountingChoice:
    reg = _own_registration(db, actor, data.registration_id)
    choice = db.get(AccountingChoice, reg.id)
    if choice is None:
        choice = AccountingChoice(registration_id=reg.id, org_id=reg.holder_org_id)
        db.add(choice)
    choice.intent, choice.useful_life_months = data.intent, data.useful_life_months
    audit.record(db, actor, "finance.accounting.choice_set", target_type="registration", target_id=reg.id,
                 target_org_id=reg.holder_org_id, intent=data.intent, useful_life_months=data.useful_life_months)
    db.flush()
    return choice


def asset_pack(db: Session, reg: Any, as_of: date) -> AssetPack:
    """The disclosure items of one issued registration (no permission check: see :func:`pack`)."""
    ready_on = reg.issued_at.astimezone(SHANGHAI).date()  # the day in China
    choice = db.get(AccountingChoice, reg.id)
    found = AssetPack(reg.id, reg.number or "", reg.title_zh, reg.title_en, reg.industry_code, reg.source,
                      list(reg.rights or []), ACQUISITION.get(reg.source, "other"), reg.row_count,
                      reg.column_count, reg.parquet_size, ready_on, choice.intent if choice else "own_use",
                      choice.useful_life_months if choice else DEFAULT_LIFE_MONTHS)
    for cost in db.scalars(select(AssetCost).where(AssetCost.registration_id == reg.id, AssetCost.incurred_on <= as_of)
                           .order_by(AssetCost.incurred_on, AssetCost.id)):
        found.costs.append(CostLine("entered", cost.category, cost.amount_fen, cost.incurred_on, cost.note,
                                    cost.category in CAPITALISABLE and cost.incurred_on <= ready_on, cost.id))
    for sale in exchange_trades.settled_sales_of_registration(db, reg.holder_org_id, reg.id):
        settled_on = sale.settled_at.astimezone(SHANGHAI).date()
        if settled_on > as_of:
            continue
        found.contracts += 1
        found.income_fen += sale.price_fen
        if sale.fee_fen:
            found.costs.append(CostLine("ledger", "exchange_fee", sale.fee_fen, settled_on, sale.number,
                                        False))
    found.cost_fen = sum(c.amount_fen for c in found.costs if c.capitalised)
    found.expensed_fen = sum(c.amount_fen for c in found.costs if not c.capitalised)
    valuation = latest_signed_valuation(db, reg.id)
    found.valuation_fen = valuation.value_fen if valuation is not None else None
    _classify(found)
    _measure(found, as_of)
    banks = accounts.organisations_by_id(db, [p.pledgee_org_id for p in open_pledges_of(db, reg.id)])
    found.restrictions = [{"pledge_id": p.id, "bank": banks[p.pledgee_org_id].name, "secured_fen": p.secured_fen,
                           "matures_on": p.matures_on, "status": p.status} for p in open_pledges_of(db, reg.id)]
    return found


def _classify(found: AssetPack) -> None:
    if found.cost_fen == 0:
        found.classification = "not_recognised"
        found.reasons.append((N_("No directly attributable cost up to the certificate's issue has been recorded, "
                                 "so its cost cannot be measured reliably: the data is not recognised as an asset "
                                 "(its costs are expensed; it may be disclosed voluntarily)."), {}))
        return
    if found.intent == "for_sale":
        found.classification = "inventory"
        found.reasons.append((N_("The holder holds the data for sale in its ordinary activities: inventory "
                                 "(CAS 1), measured at the lower of cost and net realisable value."), {}))
    else:
        found.classification = "intangible"
        found.reasons.append((N_("The holder uses the data or licenses it on the exchange while keeping it "
                                 "(its products are licences, not sales of the data): intangible asset (CAS 6), "
                                 "amortised on a straight line over its useful life."), {}))
    if found.contracts:
        found.reasons.append((N_("Economic benefits are evidenced by {count} settled contracts worth {income} yuan."),
                              {"count": found.contracts, "income": f"{found.income_fen / 100:,.2f}"}))
    if found.valuation_fen is not None:
        found.reasons.append((N_("A signed appraisal values the asset at {value} yuan."),
                              {"value": f"{found.valuation_fen / 100:,.2f}"}))


def _measure(found: AssetPack, as_of: date) -> None:
    carrying = found.cost_fen
    if found.classification == "intangible":
        life = found.useful_life_months
        found.months_amortised, found.accumulated_fen = amortised(found.cost_fen, life, found.ready_on, as_of)
        _m, before = amortised(found.cost_fen, life, found.ready_on, date(as_of.year - 1, 12, 31))
        found.period_amortisation_fen = found.accumulated_fen - before
        found.remaining_months = life - found.months_amortised
        carrying -= found.accumulated_fen
    if found.classification in ("intangible", "inventory") and found.valuation_fen is not None:
        found.impairment_fen = max(0, carrying - found.valuation_fen)
    found.book_value_fen = carrying - found.impairment_fen if found.classification != "not_recognised" else 0


def pack(db: Session, actor: Actor, as_of: date | None = None) -> Pack:
    """The actor's organisation's pack: every issued registration it holds, on ``as_of`` (today in
    Asia/Shanghai)."""
    org_id = actor.org_id or 0
    policy.require(actor, "finance.accounting", holder_resource(org_id))
    day = as_of or utcnow().astimezone(SHANGHAI).date()  # today in China, where the books are kept
    org = accounts.organisations_by_id(db, [org_id])[org_id]
    assets = [asset_pack(db, reg, day) for reg in registry.issued_of_holder(db, org_id) if reg.issued_at is not None]
    # the booked assets first, then those not recognised
    return Pack(org_id, org.name, org.uscc, day,
                sorted(assets, key=lambda a: (a.classification == "not_recognised", a.number)))
