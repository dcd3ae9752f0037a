"""The life of a grant after its decision: its use (each download or query begins with one
conditional UPDATE of the grant), its end (expiry on its last day, or revocation by the owner with
a reason) and the owner's per-resource sandbox policy that sandbox grants are answered under.

Why a conditional UPDATE at the start of every use: on PostgreSQL it takes the grant's row lock
until the use commits, so a revocation (itself ``UPDATE … WHERE status IN granted``) waits for a
use under way and every use after it finds the grant ended; on SQLite writes queue one at a time
(``BEGIN IMMEDIATE``). Either way no use begins after a revocation or expiry has committed, and
every use served is in the access log. Of two revocations at once, one applies and the other gets
a bilingual 409. A grant past its ``expires_on`` is refused at once, before the periodic task
``sharing.expire_grants`` marks it expired and tells the requester.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from qianshu.core import audit, inbox, policy
from qianshu.core.actor import SYSTEM, Actor
from qianshu.core.db import Database
from qianshu.core.errors import Conflict, InvalidInput
from qianshu.core.i18n import Label
from qianshu.core.settings import Settings
from qianshu.core.timeutil import SHANGHAI, utcnow
from qianshu.sharing import schemas
from qianshu.sharing.models import (
    GRANTED_STATUSES,
    SANDBOX_AGGREGATES,
    SharingExtension,
    SharingRequest,
    SharingResource,
)
from qianshu.sharing.permissions import request_resource, resource_of

CAPABILITY = "sharing"
REVOKED = "Your grant #{id} for {resource} was revoked by its owner: {reason}"
EXPIRED = "Your grant #{id} for {resource} ended on {day}; its feed and sandbox are closed."
NUMERIC_TYPES = ("integer", "decimal")


def today() -> date:
    return utcnow().astimezone(SHANGHAI).date()


def _resource_name(db: Session, resource_id: int) -> str:
    return db.get_one(SharingResource, resource_id).name_zh


# --- use ---------------------------------------------------------------------------------------

def begin_use(db: Session, row: SharingRequest, *, epsilon: float = 0.0, budget: float = 0.0) -> None:
    """Start a use of the grant: refused (409, nothing written) unless it is in force today. With
    ``epsilon``, also charges the grant's privacy budget in the same statement."""
    values: dict[str, Any] = {"last_used_at": utcnow()}
    where = [SharingRequest.id == row.id, SharingRequest.status.in_(GRANTED_STATUSES),
             or_(SharingRequest.expires_on.is_(None), SharingRequest.expires_on >= today())]
    if epsilon:
        values["epsilon_spent"] = SharingRequest.epsilon_spent + epsilon
        where.append(SharingRequest.epsilon_spent + epsilon <= budget + 1e-12)
    result = db.execute(update(SharingRequest).where(*where).values(**values)
                        .execution_options(synchronize_session=False))
    db.refresh(row)
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return
    if row.status in GRANTED_STATUSES and row.expires_on is not None and row.expires_on < today():
        raise Conflict("This grant ended on {day}; its data can no longer be used.", code="grant_expired",
                       day=row.expires_on.isoformat())
    if row.status not in GRANTED_STATUSES:
        raise Conflict("This request is {status}; nothing is granted.", code="not_granted",
                       status=Label("sharing request status", row.status))
    raise Conflict("The privacy budget is spent: {remaining} of {total} remains and the query needs {needed}.",
                   code="privacy_budget_exhausted", remaining=f"{max(budget - row.epsilon_spent, 0.0):.4g}",
                   total=f"{budget:.4g}", needed=f"{epsilon:.4g}")


def expiry(asked: date | None, granted_end: date) -> date:
    """A grant's last day of use: the one the deciding side gives (not in the past), else the end
    of the granted period."""
    if asked is None:
        return granted_end
    if asked < today():
        raise InvalidInput("A grant cannot end before today ({today}).", field="expires_on", code="expiry_past",
                           today=today().isoformat())
    return asked


def in_force(row: SharingRequest, on: date | None = None) -> bool:
    return row.status in GRANTED_STATUSES and (row.expires_on is None or row.expires_on >= (on or today()))


# --- revocation --------------------------------------------------------------------------------

def revoke(db: Session, actor: Actor, row: SharingRequest, reason: str) -> SharingRequest:
    """The owner withdraws a grant, saying why: uses stop at once, the requester is told, audited.
    Of two revocations at once one applies; the other gets 409 ``grant_not_active``."""
    res = request_resource(row.owner_org_id, row.requester_org_id)
    policy.require(actor, "sharing.grant.revoke", res)
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Say why the grant is revoked.", field="reason", code="reason_required")
    # Take the grant's row first (PostgreSQL: waits for a use under way), so that ``ended_at`` is
    # the moment the revocation takes effect, after every use it waited for.
    db.execute(select(SharingRequest.id).where(SharingRequest.id == row.id).with_for_update())
    result = db.execute(update(SharingRequest)
                        .where(SharingRequest.id == row.id, SharingRequest.status.in_(GRANTED_STATUSES))
                        .values(status="revoked", ended_at=utcnow(), ended_by=actor.user_id, end_reason=reason,
                                version=SharingRequest.version + 1)
                        .execution_options(synchronize_session=False))
    db.refresh(row)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("This grant is already {status}; the revocation was not applied.", code="grant_not_active",
                       status=Label("sharing request status", row.status))
    audit.record(db, actor, "sharing.grant.revoked", target_type="sharing_request", target_id=row.id,
                 target_org_id=row.owner_org_id, reason=reason)
    inbox.notify(db, CAPABILITY, REVOKED, org_id=row.requester_org_id, subject=("sharing_request", row.id),
                 link=f"/sharing/requests/{row.id}", id=row.id, resource=_resource_name(db, row.resource_id),
                 reason=reason)
    return row


# --- expiry ------------------------------------------------------------------------------------

def expire_grants(db: Session, on: date | None = None) -> int:
    """Close the grants whose last day has passed (once each): status ``expired``, the requester
    told, an audit row. Returns how many."""
    day = on or today()
    # A grant whose longer use the grantee asked for in time stays open (unused: its end date has
    # passed) until the owner decides; a refusal lets the next run close it.
    waiting = select(SharingExtension.id).where(SharingExtension.request_id == SharingRequest.id,
                                                SharingExtension.status == "pending")
    rows = list(db.scalars(select(SharingRequest).where(
        SharingRequest.status.in_(GRANTED_STATUSES), SharingRequest.expires_on < day, ~waiting.exists())
        .order_by(SharingRequest.id).with_for_update(skip_locked=True)))
    closed = 0
    for row in rows:
        result = db.execute(update(SharingRequest)
                            .where(SharingRequest.id == row.id, SharingRequest.status.in_(GRANTED_STATUSES))
                            .values(status="expired", ended_at=utcnow(), version=SharingRequest.version + 1)
                            .execution_options(synchronize_session=False))
        db.refresh(row)
        if result.rowcount != 1:  # type: ignore[attr-defined]
            continue  # revoked meanwhile
        closed += 1
        audit.record(db, SYSTEM, "sharing.grant.expired", target_type="sharing_request", target_id=row.id,
                     target_org_id=row.owner_org_id, expires_on=row.expires_on.isoformat() if row.expires_on else "")
        inbox.notify(db, CAPABILITY, EXPIRED, org_id=row.requester_org_id, subject=("sharing_request", row.id),
                     link=f"/sharing/requests/{row.id}", id=row.id, resource=_resource_name(db, row.resource_id),
                     day=row.expires_on.isoformat() if row.expires_on else "")
    db.flush()
    return closed


def expire_grants_task(database: Database, settings: Settings) -> int:
    """The periodic task (manifest ``periodic``): close expired grants in its own transaction."""
    with database.unit_of_work() as db:
        return expire_grants(db)


# --- the sandbox policy ------------------------------------------------------------------------

@dataclass(frozen=True)
class SandboxRules:
    """What the owner allows in sandbox grants of one resource."""

    k: int = 10
    aggregates: tuple[str, ...] = SANDBOX_AGGREGATES
    epsilon: float | None = None  # per query; None: no differential privacy
    budget: float = 10.0  # per grant, with epsilon
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    @classmethod
    def of(cls, resource: SharingResource) -> SandboxRules:
        raw = resource.sandbox_policy or {}
        if not raw:
            return cls()
        return cls(k=int(raw.get("k", 10)), aggregates=tuple(raw.get("aggregates") or SANDBOX_AGGREGATES),
                   epsilon=raw.get("epsilon"), budget=float(raw.get("budget", 10.0)),
                   bounds={str(c): (float(b[0]), float(b[1])) for c, b in (raw.get("bounds") or {}).items()})

    def json(self) -> dict[str, Any]:
        return {"k": self.k, "aggregates": list(self.aggregates), "epsilon": self.epsilon, "budget": self.budget,
                "bounds": {c: list(b) for c, b in self.bounds.items()}}


def set_sandbox_policy(db: Session, actor: Actor, resource: SharingResource,
                       data: schemas.SandboxPolicyIn) -> SharingResource:
    """The owning department sets the resource's sandbox policy (used by its sandbox grants from the
    next query on)."""
    policy.require(actor, "sharing.resource.publish", resource_of(resource.org_id))
    types = {str(f["name"]): str(f["type"]) for f in resource.fields}
    for column, (low, high) in data.bounds.items():
        if types.get(column) not in NUMERIC_TYPES:
            raise InvalidInput("Bounds are for numeric fields of the resource; {name} is not one.",
                               field="bounds", code="unknown_field", name=column)
        if not low < high:
            raise InvalidInput("The bounds of {name} must go from low to high.", field="bounds", name=column)
    rules = SandboxRules(data.k, tuple(a for a in SANDBOX_AGGREGATES if a in data.aggregates), data.epsilon,
                         data.budget, dict(data.bounds))
    resource.sandbox_policy = rules.json()
    db.flush()
    audit.record(db, actor, "sharing.sandbox_policy.set", target_type="sharing_resource", target_id=resource.id,
                 target_org_id=resource.org_id, **rules.json())
    return resource


# sqlglot's aggregate classes → the names the policy allows
def _aggregate_names() -> dict[type[Any], str]:
    from sqlglot import exp

    return {exp.Count: "count", exp.ApproxDistinct: "count", exp.Sum: "sum", exp.Avg: "avg", exp.Min: "min",
            exp.Max: "max", exp.Median: "median", exp.Quantile: "median", exp.PercentileCont: "median",
            exp.PercentileDisc: "median", exp.Stddev: "stddev", exp.StddevPop: "stddev",
            exp.StddevSamp: "stddev", exp.Variance: "stddev", exp.VariancePop: "stddev", exp.Corr: "stddev",
            exp.CovarPop: "stddev", exp.CovarSamp: "stddev"}


def check_aggregates(sql: str, rules: SandboxRules) -> None:
    """Refuse (422, naming it) an aggregate the resource's policy does not allow."""
    from sqlglot import exp

    from qianshu.delivery import sandbox_sql

    if set(rules.aggregates) >= set(SANDBOX_AGGREGATES):
        return
    names = _aggregate_names()
    for node in sandbox_sql.parse(sql).walk():
        if isinstance(node, exp.AggFunc):
            name = next((n for cls, n in names.items() if isinstance(node, cls)), node.sql_name().lower())
            if name not in rules.aggregates:
                raise InvalidInput("The owner of this resource allows only {allowed} in the sandbox; {name} is "
                                   "not allowed.", field="sql", code="aggregate_not_allowed", name=name,
                                   allowed=", ".join(rules.aggregates))

