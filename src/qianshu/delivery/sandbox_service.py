"""The sandbox wired to contracts: the buyer of a contract delivered in the ``sandbox`` mode asks
aggregate questions of the product's table (named ``data``), through the engine of
:mod:`.sandbox`, and only aggregates come back.

Every query asks the exchange whether the contract is in force for ``sandbox``; runs on the base's
bounded analytics connection with the product's k and, when the seller switched differential
privacy on, the epsilon per query charged against the contract's privacy budget stored here
(both parties see it); and is logged with its outcome (answered, suppressed, refused, failed, timed
out, never a value) for the seller's contract page, and in the audit trail.

The budget is spent before the query runs by a conditional UPDATE (``spent + epsilon <= total``),
which the database serialises: two queries at once cannot both take its last share. A query the
engine refuses before it reads anything (its text) costs no budget; once the data was read the
epsilon stays spent, whatever the outcome, since a refusal may itself depend on the data.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from qianshu.catalog import permissions as catalog_permissions
from qianshu.catalog import service as catalog_service
from qianshu.core import audit, policy
from qianshu.core.actor import SYSTEM, Actor
from qianshu.core.analytics import Limits
from qianshu.core.db import Database
from qianshu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, QianshuError
from qianshu.core.i18n import NP_
from qianshu.core.settings import Settings
from qianshu.core.timeutil import utcnow
from qianshu.delivery import sandbox_sql
from qianshu.delivery.models import PrivacyBudgetRow, SandboxPolicyRow, SandboxQuery
from qianshu.delivery.sandbox import DEFAULT_K, SandboxAnswer, SandboxPolicy, query_record, run_query
from qianshu.delivery.sandbox_privacy import PrivacyBudget
from qianshu.delivery.settings import DeliverySettings

if TYPE_CHECKING:
    from qianshu.catalog.models import Listing

TABLE = "data"  # the product's table, as the buyer's SQL names it
MAX_SQL = 10_000
# The outcomes a query's log shows, by message context (pages: ``{{ q.outcome|label("sandbox outcome") }}``).
OUTCOME_LABELS = (NP_("sandbox outcome", "answered"), NP_("sandbox outcome", "suppressed"),
                  NP_("sandbox outcome", "refused"), NP_("sandbox outcome", "failed"),
                  NP_("sandbox outcome", "timed_out"))
# Why a query was not answered, beside its outcome where the outcome alone does not say (a refusal by
# the rules and a time-out need no more words): pages, ``{{ q.code|label("sandbox reason") }}``.
REASON_LABELS = (NP_("sandbox reason", "privacy_budget_exhausted"), NP_("sandbox reason", "sandbox_query_failed"),
                 NP_("sandbox reason", "contract_not_active"))


@dataclass(frozen=True)
class ProductSandbox:
    """What the seller set for a product's sandbox (the defaults where it set nothing)."""

    listing_id: int
    k: int = DEFAULT_K
    epsilon: float | None = None
    budget: float = 1.0
    bounds: Mapping[str, tuple[float, float]] | None = None
    identifying: tuple[str, ...] = ()


def product_sandbox(db: Session, settings: Settings, listing_id: int) -> ProductSandbox:
    row = db.get(SandboxPolicyRow, listing_id)
    if row is None:
        return ProductSandbox(listing_id, budget=settings.section(DeliverySettings).sandbox_default_budget)
    bounds = {str(c): (float(b[0]), float(b[1])) for c, b in (row.bounds or {}).items()}
    return ProductSandbox(listing_id, row.k, row.epsilon, row.budget, bounds, tuple(row.identifying or ()))


def listing_to_configure(db: Session, actor: Actor, listing_id: int) -> Listing:
    """The product whose sandbox the actor may set (its seller: ``sandbox.configure``); anyone else is
    told there is no such product."""
    listing = catalog_service.get_listing(db, actor, listing_id)
    policy.require(actor, "sandbox.configure", catalog_permissions.listing(listing),
                   hidden=NotFound("No such product in the catalogue."))
    return listing


def set_product_sandbox(db: Session, actor: Actor, listing_id: int, *, k: int, epsilon: float | None,
                        budget: float, bounds: Mapping[str, Sequence[float]] | None = None,
                        identifying: Sequence[str] = ()) -> SandboxPolicyRow:
    """The seller sets k, the epsilon per query (None: no noise) and each contract's budget."""
    listing = listing_to_configure(db, actor, listing_id)
    if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= 1000:
        raise InvalidInput("{field} must be between {min} and {max}.", field="k", min=2, max=1000)
    if epsilon is not None and not (math.isfinite(epsilon) and 0 < epsilon <= 10):
        raise InvalidInput("{field} must be between {min} and {max}.", field="epsilon", min=0.001, max=10)
    if not (math.isfinite(budget) and 0 < budget <= 100):
        raise InvalidInput("{field} must be between {min} and {max}.", field="budget", min=0.001, max=100)
    clean_bounds: dict[str, list[float]] = {}
    for column, pair in (bounds or {}).items():
        low, high = (float(v) for v in pair)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise InvalidInput("The bounds of {column} must be two numbers, the low one first.", field="bounds",
                               column=column)
        clean_bounds[str(column)] = [low, high]
    row = db.get(SandboxPolicyRow, listing.id) or SandboxPolicyRow(listing_id=listing.id)
    row.k, row.epsilon, row.budget, row.bounds = k, epsilon, budget, clean_bounds
    row.identifying, row.updated_by = [str(c) for c in identifying], actor.user_id
    db.add(row)
    db.flush()
    audit.record(db, actor, "sandbox.configure", target_type="listing", target_id=listing.id,
                 target_org_id=listing.org_id, k=k, epsilon=epsilon, budget=budget)
    return row


def _budget_row(db: Session, contract_id: int, total: float) -> PrivacyBudgetRow:
    row = db.get(PrivacyBudgetRow, contract_id)
    if row is None:
        from qianshu.delivery.data_api import insert_ignore

        insert_ignore(db, PrivacyBudgetRow, {"contract_id": contract_id, "total": total, "spent": 0.0,
                                              "updated_at": utcnow()})
        row = db.get(PrivacyBudgetRow, contract_id, populate_existing=True)
    assert row is not None
    return row


def budget_of(db: Session, contract_id: int) -> PrivacyBudget | None:
    """The contract's budget as both parties see it (None: no query has spent any yet)."""
    row = db.get(PrivacyBudgetRow, contract_id)
    return PrivacyBudget(row.total, row.spent) if row else None


def _spend(db: Session, contract_id: int, total: float, epsilon: float) -> PrivacyBudget:
    """Take ``epsilon`` from the contract's budget at once; the budget before the charge."""
    _budget_row(db, contract_id, total)
    taken = db.execute(update(PrivacyBudgetRow).where(
        PrivacyBudgetRow.contract_id == contract_id,
        PrivacyBudgetRow.spent + epsilon <= PrivacyBudgetRow.total + 1e-9,
    ).values(spent=PrivacyBudgetRow.spent + epsilon)).rowcount  # type: ignore[attr-defined]  # a CursorResult
    row = db.get(PrivacyBudgetRow, contract_id, populate_existing=True)
    assert row is not None
    if not taken:
        PrivacyBudget(row.total, row.spent).charge(epsilon)  # raises the engine's bilingual 409
    return PrivacyBudget(row.total, row.spent - epsilon)


@dataclass(frozen=True)
class SandboxResult:
    contract_id: int
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    suppressed_groups: int
    epsilon: float
    budget: PrivacyBudget | None
    seconds: float
    query_id: int


@dataclass(frozen=True)
class _Prepared:
    contract_id: int
    contract_number: str
    listing_id: int
    seller_org_id: int
    data: Path
    product: ProductSandbox


def _prepare(db: Session, actor: Actor, settings: Settings, contract_id: int) -> _Prepared:
    from qianshu.delivery import service
    from qianshu.exchange import service as exchange

    contract = exchange.get_contract(db, actor, contract_id)
    policy.require(actor, "sandbox.query", exchange_resource(contract))
    if contract.delivery_mode != "sandbox":
        raise Conflict("Contract {number} is not delivered through the sandbox.", number=contract.number)
    listing = catalog_service.get_listing(db, SYSTEM, contract.catalogue_listing_id)
    data = service.product_data(db, settings, listing)
    return _Prepared(contract.id, contract.number, listing.id, contract.seller_org_id, data,
                     product_sandbox(db, settings, listing.id))


def exchange_resource(contract: Any) -> policy.Resource:
    """A contract as the policy sees it: the buyer's, with the seller as counterparty (as the exchange does)."""
    return policy.Resource(org_id=contract.buyer_org_id, counterparties=(contract.seller_org_id,))


def _log(db: Session, actor: Actor, prepared: _Prepared, sql: str, record: Mapping[str, Any]) -> SandboxQuery:
    outcome = str(record["outcome"])
    if record.get("code") in ("contract_not_active", "permission_denied"):
        outcome = "refused"
    if outcome == "answered" and not record.get("groups_shown") and record.get("groups_suppressed"):
        outcome = "suppressed"
    entry = SandboxQuery(contract_id=prepared.contract_id, listing_id=prepared.listing_id, user_id=actor.user_id,
                         sql=sql, sql_sha256=hashlib.sha256(sql.encode()).hexdigest(), outcome=outcome,
                         code=str(record.get("code") or ""), groups_shown=int(record.get("groups_shown") or 0),
                         groups_suppressed=int(record.get("groups_suppressed") or 0),
                         epsilon=float(record.get("epsilon_spent") or 0.0), seconds=float(record.get("seconds") or 0))
    db.add(entry)
    db.flush()
    audit.record(db, actor, "sandbox.query", target_type="contract", target_id=prepared.contract_id,
                 target_org_id=prepared.seller_org_id, query=entry.id, outcome=outcome, code=entry.code,
                 sql_sha256=entry.sql_sha256, epsilon=entry.epsilon)
    return entry


def run_contract_query(database: Database, actor: Actor, settings: Settings, contract_id: int,
                       sql: str) -> SandboxResult:
    """Answer the buyer's ``sql`` under its contract; logged whatever the outcome. A read-only
    transaction checks (the contract in force, the text), a short write one charges the privacy
    budget (only with differential privacy), the query runs outside any, and one write transaction
    logs it; none is held while DuckDB reads."""
    from qianshu.exchange import contracts as exchange_contracts

    sql = (sql or "").strip()
    if not sql:
        raise InvalidInput("{field} is required.", field="sql")
    if len(sql) > MAX_SQL:
        raise InvalidInput("{field} must be at most {max} characters.", field="sql", max=MAX_SQL)
    section = settings.section(DeliverySettings)
    budget: PrivacyBudget | None = None
    refused: QianshuError | None = None
    # A read transaction: on SQLite it does not queue behind the one writer, nor make others queue.
    with database.unit_of_work(write=False) as db:
        prepared = _prepare(db, actor, settings, contract_id)
        product = prepared.product
        engine_policy = SandboxPolicy(
            k=product.k, limits=Limits(memory_limit="1GB", threads=2, query_seconds=section.sandbox_query_seconds),
            identifying=frozenset(c.lower() for c in product.identifying), epsilon=product.epsilon,
            bounds=dict(product.bounds or {}))
        try:
            if not exchange_contracts.contract_is_active(db, prepared.contract_id, "sandbox"):
                raise PermissionDenied("Contract {number} is not in force.", code="contract_not_active",
                                       number=prepared.contract_number)
            # What can be refused from the text alone is refused before any budget is spent.
            select_ = sandbox_sql.parse(sql)
            sandbox_sql.check_allowed(select_)
            sandbox_sql.table_of(select_, frozenset({TABLE}))
        except QianshuError as exc:
            refused = exc
    if refused is None and product.epsilon is not None:
        try:
            with database.unit_of_work() as db:
                budget = _spend(db, prepared.contract_id, product.budget, product.epsilon)
        except QianshuError as exc:
            refused = exc
    if refused is not None:
        with database.unit_of_work() as db:
            _log(db, actor, prepared, sql, query_record(sql, [TABLE], refused, engine_policy))
        raise refused
    try:
        answer: SandboxAnswer | QianshuError = run_query(sql, {TABLE: [prepared.data]}, engine_policy, budget=budget,
                                                         parsed=select_)
    except QianshuError as exc:
        answer = exc
    with database.unit_of_work() as db:
        entry = _log(db, actor, prepared, sql, query_record(sql, [TABLE], answer, engine_policy))
        # Only a query with differential privacy touches the budget.
        after = budget_of(db, prepared.contract_id) if product.epsilon is not None else None
    if isinstance(answer, QianshuError):
        raise answer
    return SandboxResult(prepared.contract_id, answer.columns, answer.rows, answer.suppressed_groups, answer.epsilon,
                         after, answer.seconds, entry.id)


def query_log(db: Session, contract_id: int, limit: int = 50) -> list[SandboxQuery]:
    return list(db.scalars(select(SandboxQuery).where(SandboxQuery.contract_id == contract_id)
                           .order_by(SandboxQuery.id.desc()).limit(limit)))


def contract_summary(db: Session, actor: Actor, contract_id: int) -> dict[str, Any]:
    """What a party sees of a contract's delivery on its page (checked as the exchange checks a read)."""
    from qianshu.delivery import data_api
    from qianshu.exchange import service as exchange

    contract = exchange.get_contract(db, actor, contract_id)
    return {"contract": contract, "queries": query_log(db, contract.id), "budget": budget_of(db, contract.id),
            "usage": data_api.usage_of(db, contract.id), "key": data_api.live_key(db, contract.id)}
