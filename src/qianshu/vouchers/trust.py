"""Who a programme's vouchers do not pay: related parties and broken-trust (失信) records.

The programme's administrator marks two organisations related (no voucher of the programme pays
between them: ``service.are_related``) and unmarks them with a reason; records a broken-trust record
of an organisation with its source and reason (the organisation may not apply: ``service.apply``
reads ``Programme.excluded_org_ids``, which these functions keep in step with the records) and
lifts it with a reason. The API and the portal call these same functions.

Every change is audited (as the first API of related parties was; none is a leaf of the public log:
the log holds what moves value, and these records name companies' trust standing, which is the
administrator's to publish, not the log's). Every change locks the programme's row first, so two
submissions at once queue: the second sees the first's change and is a no-op (marking what is
marked) or a 409 (unmarking what is not marked, recording what is recorded, lifting what is lifted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.core import audit
from qianshu.core.actor import Actor
from qianshu.core.errors import Conflict, InvalidInput
from qianshu.core.timeutil import utcnow
from qianshu.vouchers import schemas
from qianshu.vouchers.models import BrokenTrust, Programme, RelatedParties
from qianshu.vouchers.service import managed_programme


def _pair(db: Session, one: int, other: int) -> tuple[int, int]:
    a, b = sorted((one, other))
    if a == b:
        raise InvalidInput("Name two different organisations.", field="org_b_id", code="same_organisation")
    found = accounts.organisations_by_id(db, [a, b])
    for org_id, field in ((one, "org_a_id"), (other, "org_b_id")):
        if org_id not in found:
            raise InvalidInput("Organisation {org_id} does not exist.", field=field, code="unknown_organisation",
                               org_id=org_id)
    return a, b


def _related_row(db: Session, programme_id: int, a: int, b: int) -> RelatedParties | None:
    return db.scalar(select(RelatedParties).where(RelatedParties.programme_id == programme_id,
                                                  RelatedParties.org_a_id == a, RelatedParties.org_b_id == b)
                     .execution_options(populate_existing=True))


def mark_related(db: Session, actor: Actor, programme_id: int, data: schemas.RelatedIn) -> RelatedParties:
    """The administrator marks two organisations related: no voucher of the programme pays between
    them. Marking a pair marked already changes nothing."""
    programme = managed_programme(db, actor, programme_id, locked=True)
    a, b = _pair(db, data.org_a_id, data.org_b_id)
    found = _related_row(db, programme.id, a, b)
    if found is not None and found.unmarked_at is None:
        return found
    if found is None:
        found = RelatedParties(programme_id=programme.id, org_a_id=a, org_b_id=b)
        db.add(found)
    found.reason, found.unmarked_at, found.unmark_reason, found.created_at = data.reason, None, "", utcnow()
    audit.record(db, actor, "vouchers.related_marked", target_type="voucher_programme", target_id=programme.id,
                 target_org_id=actor.org_id, org_a_id=a, org_b_id=b, reason=data.reason[:300])
    db.flush()
    return found


def unmark_related(db: Session, actor: Actor, programme_id: int, data: schemas.UnmarkRelatedIn) -> RelatedParties:
    """Two organisations are no longer related for the programme (the reason is kept)."""
    programme = managed_programme(db, actor, programme_id, locked=True)
    a, b = _pair(db, data.org_a_id, data.org_b_id)
    found = _related_row(db, programme.id, a, b)
    if found is None or found.unmarked_at is not None:
        raise Conflict("These organisations are not marked related.", field="org_b_id", code="not_related")
    found.unmarked_at, found.unmark_reason = utcnow(), data.reason
    audit.record(db, actor, "vouchers.related_unmarked", target_type="voucher_programme", target_id=programme.id,
                 target_org_id=actor.org_id, org_a_id=a, org_b_id=b, reason=data.reason[:300])
    db.flush()
    return found


def _trust_row(db: Session, programme_id: int, org_id: int) -> BrokenTrust | None:
    return db.scalar(select(BrokenTrust).where(BrokenTrust.programme_id == programme_id, BrokenTrust.org_id == org_id)
                     .execution_options(populate_existing=True))


def _exclude(programme: Programme, org_id: int, excluded: bool) -> None:
    # a new list, so that the JSON column is written
    kept = [i for i in programme.excluded_org_ids if i != org_id]
    programme.excluded_org_ids = [*kept, org_id] if excluded else kept


def record_broken_trust(db: Session, actor: Actor, programme_id: int, data: schemas.BrokenTrustIn) -> BrokenTrust:
    """A broken-trust record of an organisation: it may not apply to the programme while it holds."""
    programme = managed_programme(db, actor, programme_id, locked=True)
    if not accounts.organisations_by_id(db, [data.org_id]):
        raise InvalidInput("Organisation {org_id} does not exist.", field="org_id", code="unknown_organisation",
                           org_id=data.org_id)
    found = _trust_row(db, programme.id, data.org_id)
    if found is not None and found.lifted_at is None:
        raise Conflict("This organisation has a broken-trust record with the programme already.", field="org_id",
                       code="broken_trust_recorded")
    if found is None:
        found = BrokenTrust(programme_id=programme.id, org_id=data.org_id)
        db.add(found)
    found.source, found.reason, found.recorded_at, found.lifted_at, found.lift_reason = (
        data.source, data.reason, utcnow(), None, "")
    _exclude(programme, data.org_id, True)
    audit.record(db, actor, "vouchers.broken_trust_recorded", target_type="voucher_programme", target_id=programme.id,
                 target_org_id=data.org_id, source=data.source, reason=data.reason[:300])
    db.flush()
    return found


def lift_broken_trust(db: Session, actor: Actor, programme_id: int, data: schemas.LiftBrokenTrustIn) -> BrokenTrust:
    """The record no longer holds: the organisation may apply again (the reason is kept)."""
    programme = managed_programme(db, actor, programme_id, locked=True)
    found = _trust_row(db, programme.id, data.org_id)
    if found is None or found.lifted_at is not None:
        raise Conflict("This organisation has no broken-trust record with the programme.", field="org_id",
                       code="broken_trust_not_recorded")
    found.lifted_at, found.lift_reason = utcnow(), data.reason
    _exclude(programme, data.org_id, False)
    audit.record(db, actor, "vouchers.broken_trust_lifted", target_type="voucher_programme", target_id=programme.id,
                 target_org_id=data.org_id, reason=data.reason[:300])
    db.flush()
    return found


@dataclass(frozen=True)
class Party:
    """An organisation as the records' page names it."""

    id: int
    name: str
    name_en: str
    uscc: str


@dataclass(frozen=True)
class RelatedEntry:
    a: Party
    b: Party
    reason: str
    marked_at: datetime
    unmarked_at: datetime | None
    unmark_reason: str


@dataclass(frozen=True)
class TrustEntry:
    org: Party
    source: str
    reason: str
    recorded_at: datetime
    lifted_at: datetime | None
    lift_reason: str


@dataclass(frozen=True)
class TrustRecords:
    """A programme's related parties and broken-trust records (those in force first), those naming an
    organisation whose name or USCC contains ``query``."""

    related: list[RelatedEntry]
    broken_trust: list[TrustEntry]
    query: str


def _matches(party: Party, query: str) -> bool:
    q = query.casefold()
    return not q or q in party.name.casefold() or q in party.name_en.casefold() or q in party.uscc.casefold()


def trust_records(db: Session, actor: Actor, programme_id: int, query: str = "") -> TrustRecords:
    programme = managed_programme(db, actor, programme_id)
    related = list(db.scalars(select(RelatedParties).where(RelatedParties.programme_id == programme.id)))
    trust = list(db.scalars(select(BrokenTrust).where(BrokenTrust.programme_id == programme.id)))
    orgs = accounts.organisations_by_id(db, {i for r in related for i in (r.org_a_id, r.org_b_id)}
                                        | {t.org_id for t in trust})
    parties = {i: Party(o.id, o.name, o.name_en or "", o.uscc) for i, o in orgs.items()}
    query = query.strip()[:100]
    pairs = [RelatedEntry(parties[r.org_a_id], parties[r.org_b_id], r.reason, r.created_at, r.unmarked_at,
                          r.unmark_reason) for r in related]
    records = [TrustEntry(parties[t.org_id], t.source, t.reason, t.recorded_at, t.lifted_at, t.lift_reason)
               for t in trust]
    return TrustRecords(
        sorted((p for p in pairs if _matches(p.a, query) or _matches(p.b, query)),
               key=lambda p: (p.unmarked_at is not None, -p.marked_at.timestamp())),
        sorted((t for t in records if _matches(t.org, query)),
               key=lambda t: (t.lifted_at is not None, -t.recorded_at.timestamp())),
        query)
