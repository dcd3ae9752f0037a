"""Who vouchers do not pay: related parties and broken-trust (失信) records.

A voucher administrator marks two organisations related (no voucher of any of its programmes pays
between them: ``service.are_related``) and unmarks them with a reason; records a broken-trust record
of an organisation with its source and reason and lifts it with a reason. Marks belong to the
administering organisation (a conflict of interest within its schemes). Broken-trust records are
made and lifted by one administrator but, while in force, bind every administrator's programmes
(joint discipline, 联合惩戒: ``service.broken_trust_in_force``): the organisation may not apply, be
issued vouchers or spend the vouchers it holds, and, a provider, is not paid (no new subsidised
order of its compute, its claims neither filed nor approved until the lift); every administrator
sees them, read-only when another's (docs/vouchers.md). The API and the portal call these same functions.

Every change is audited (none is a leaf of the public log: the log holds what moves value, and these
records name companies' trust standing, which is the administrator's to publish, not the log's).
Every change locks all of the administrator's programmes first (id order), so two submissions at
once, through one programme or two, queue: the second sees the first's change and is a no-op
(marking what is marked) or a 409 (unmarking what is not marked, recording what is recorded,
lifting what is lifted). Recording also locks the organisation's vouchers (after the programmes
they belong to, in id order, the order settlements take), and a payment checks the records after
locking its vouchers, so a payment and a record at the same moment queue: the payment is made
before the record, or refused by it. Likewise for a provider: recording locks the programmes of the
orders it provides (an approval of its claim locks its programme, then reads the records) and its
offerings (an order of its compute locks the offering, then reads them).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.core import audit
from qianshu.core.actor import Actor
from qianshu.core.errors import Conflict, InvalidInput
from qianshu.core.identifiers import validate_uscc
from qianshu.core.timeutil import utcnow
from qianshu.vouchers import schemas, service
from qianshu.vouchers.models import BrokenTrust, ComputeOrder, Offering, Programme, RelatedParties, Voucher
from qianshu.vouchers.service import managed_programme


def _managed_locked(db: Session, actor: Actor, programme_id: int, holder: int | None = None) -> Programme:
    """The programme (its administrator only), with every programme of its administrator locked:
    the records are the administrator's, whichever programme's page they are changed through. With
    ``holder``, the programmes of the holder's vouchers and of the orders it provides too (one ordered
    set), then those vouchers, then its offerings: a payment with its vouchers, an order of its compute
    and the approval of its claim each lock one of these before reading the records, so each queues
    with a record made at the same moment."""
    programme = managed_programme(db, actor, programme_id)
    locked = Programme.admin_org_id == programme.admin_org_id
    if holder is not None:
        locked = or_(locked, Programme.id.in_(select(Voucher.programme_id).where(Voucher.holder_org_id == holder)),
                     Programme.id.in_(select(ComputeOrder.programme_id)
                                      .where(ComputeOrder.provider_org_id == holder)))
    # FOR NO KEY UPDATE (PostgreSQL): it queues other changes of these rows and their FOR UPDATE
    # locks, but not the key-share lock an insert's foreign key takes, so a payment holding its
    # vouchers can still insert its order (which names the programme) while we wait for them
    list(db.scalars(select(Programme.id).where(locked).order_by(Programme.id).with_for_update(key_share=True)))
    if holder is not None:
        list(db.scalars(select(Voucher.id).where(Voucher.holder_org_id == holder).order_by(Voucher.id)
                        .with_for_update(key_share=True)))
        # and, a provider, its offerings: an order locks its offering before reading the records
        list(db.scalars(select(Offering.id).where(Offering.provider_org_id == holder).order_by(Offering.id)
                        .with_for_update(key_share=True)))
    return programme


def organisation_id(db: Session, ref: int | str, field: str) -> int:
    """An organisation named by its id or its USCC (the API takes either)."""
    if isinstance(ref, str):
        uscc = validate_uscc(ref, field=field)
        org = accounts.organisation_by_uscc(db, uscc)
        if org is None:
            raise InvalidInput("No organisation has the USCC {uscc}.", field=field, code="unknown_organisation",
                               uscc=uscc)
        return int(org.id)
    if not accounts.organisations_by_id(db, [ref]):
        raise InvalidInput("Organisation {org_id} does not exist.", field=field, code="unknown_organisation",
                           org_id=ref)
    return ref


def _pair(db: Session, one: int | str, other: int | str) -> tuple[int, int]:
    ids = organisation_id(db, one, "org_a_id"), organisation_id(db, other, "org_b_id")
    a, b = sorted(ids)
    if a == b:
        raise InvalidInput("Name two different organisations.", field="org_b_id", code="same_organisation")
    return a, b


def _marks_in_force(db: Session, admin_org_id: int, a: int, b: int) -> list[RelatedParties]:
    return list(db.scalars(select(RelatedParties).where(
        RelatedParties.admin_org_id == admin_org_id, RelatedParties.org_a_id == a, RelatedParties.org_b_id == b,
        RelatedParties.unmarked_at.is_(None)).execution_options(populate_existing=True)))


def mark_related(db: Session, actor: Actor, programme_id: int, data: schemas.RelatedIn) -> RelatedParties:
    """The administrator marks two organisations related: no voucher of its programmes pays between
    them. Marking a pair marked already changes nothing."""
    managed_programme(db, actor, programme_id)  # who may, before anything is looked up
    a, b = _pair(db, data.org_a_id, data.org_b_id)
    programme = _managed_locked(db, actor, programme_id)
    marked = _marks_in_force(db, programme.admin_org_id, a, b)
    if marked:
        return marked[0]
    found = RelatedParties(admin_org_id=programme.admin_org_id, programme_id=programme.id, org_a_id=a, org_b_id=b,
                           reason=data.reason, unmark_reason="", created_at=utcnow())
    db.add(found)
    audit.record(db, actor, "vouchers.related_marked", target_type="voucher_programme", target_id=programme.id,
                 target_org_id=actor.org_id, org_a_id=a, org_b_id=b, reason=data.reason[:300])
    db.flush()
    return found


def unmark_related(db: Session, actor: Actor, programme_id: int, data: schemas.UnmarkRelatedIn) -> RelatedParties:
    """Two organisations are no longer related for the administrator's programmes (the reason is kept)."""
    managed_programme(db, actor, programme_id)  # who may, before anything is looked up
    a, b = _pair(db, data.org_a_id, data.org_b_id)
    programme = _managed_locked(db, actor, programme_id)
    marked = _marks_in_force(db, programme.admin_org_id, a, b)
    if not marked:
        raise Conflict("These organisations are not marked related.", field="org_b_id", code="not_related")
    now = utcnow()
    for found in marked:  # rows migrated from several programmes are unmarked together
        found.unmarked_at, found.unmark_reason = now, data.reason
    audit.record(db, actor, "vouchers.related_unmarked", target_type="voucher_programme", target_id=programme.id,
                 target_org_id=actor.org_id, org_a_id=a, org_b_id=b, reason=data.reason[:300])
    db.flush()
    return marked[0]


def _records_in_force(db: Session, admin_org_id: int, org_id: int) -> list[BrokenTrust]:
    return list(db.scalars(select(BrokenTrust).where(BrokenTrust.admin_org_id == admin_org_id,
                                                     BrokenTrust.org_id == org_id, BrokenTrust.lifted_at.is_(None))
                           .execution_options(populate_existing=True)))


def record_broken_trust(db: Session, actor: Actor, programme_id: int, data: schemas.BrokenTrustIn) -> BrokenTrust:
    """A broken-trust record of an organisation: while it holds, the organisation may not apply to
    any administrator's programme, be issued vouchers or spend those it holds. Another
    administrator's record in force does not stop this one: each answers for its own."""
    managed_programme(db, actor, programme_id)  # who may, before anything is looked up
    org_id = organisation_id(db, data.org_id, "org_id")
    programme = _managed_locked(db, actor, programme_id, holder=org_id)
    if _records_in_force(db, programme.admin_org_id, org_id):
        raise Conflict("This organisation has a broken-trust record with your programmes already.", field="org_id",
                       code="broken_trust_recorded")
    # the time is taken once the holder's vouchers are locked: a payment that held them came first
    found = BrokenTrust(admin_org_id=programme.admin_org_id, programme_id=programme.id, org_id=org_id,
                        source=data.source, reason=data.reason, recorded_at=utcnow(), lifted_at=None, lift_reason="")
    db.add(found)
    audit.record(db, actor, "vouchers.broken_trust_recorded", target_type="voucher_programme", target_id=programme.id,
                 target_org_id=org_id, source=data.source, reason=data.reason[:300])
    db.flush()
    return found


def lift_broken_trust(db: Session, actor: Actor, programme_id: int, data: schemas.LiftBrokenTrustIn) -> BrokenTrust:
    """The administrator's own record no longer holds (the reason is kept). The organisation may
    apply and spend again unless another administrator's record still holds; that one is read-only
    here (409 ``broken_trust_of_another``)."""
    managed_programme(db, actor, programme_id)  # who may, before anything is looked up
    org_id = organisation_id(db, data.org_id, "org_id")
    programme = _managed_locked(db, actor, programme_id)
    records = _records_in_force(db, programme.admin_org_id, org_id)
    if not records:
        other = service.broken_trust_in_force(db, org_id)
        if other is not None:
            maker = accounts.organisations_by_id(db, [other.admin_org_id])[other.admin_org_id]
            raise Conflict("The broken-trust record in force was made by {administrator}; only it may lift it.",
                           field="org_id", code="broken_trust_of_another", administrator=maker.name)
        raise Conflict("This organisation has no broken-trust record with your programmes.", field="org_id",
                       code="broken_trust_not_recorded")
    now = utcnow()
    for found in records:  # rows migrated from several programmes are lifted together
        found.lifted_at, found.lift_reason = now, data.reason
    audit.record(db, actor, "vouchers.broken_trust_lifted", target_type="voucher_programme", target_id=programme.id,
                 target_org_id=org_id, reason=data.reason[:300])
    db.flush()
    return records[0]


@dataclass(frozen=True)
class Party:
    """An organisation as the records' page names it."""

    id: int
    name: str
    name_en: str
    uscc: str


@dataclass(frozen=True)
class Via:
    """The programme a record was made through (the record holds for all the administrator's)."""

    id: int
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class RelatedEntry:
    a: Party
    b: Party
    reason: str
    marked_at: datetime
    unmarked_at: datetime | None
    unmark_reason: str
    via: Via
    changeable: bool = False  # the pair's first row in force carries the unmark form


@dataclass(frozen=True)
class TrustEntry:
    org: Party
    source: str
    reason: str
    recorded_at: datetime
    lifted_at: datetime | None
    lift_reason: str
    via: Via
    recorded_by: Party  # the administrator whose record it is
    own: bool  # the viewer's administrator's; another's is read-only
    changeable: bool = False  # the organisation's first own row in force carries the lift form


@dataclass(frozen=True)
class TrustRecords:
    """An administrator's related parties and broken-trust records (those in force first, then the
    history), and every other administrator's broken-trust records in force (shared, read-only),
    those naming an organisation whose name or USCC contains ``query``."""

    related: list[RelatedEntry]
    broken_trust: list[TrustEntry]
    query: str


def _matches(party: Party, query: str) -> bool:
    q = query.casefold()
    return not q or q in party.name.casefold() or q in party.name_en.casefold() or q in party.uscc.casefold()


def trust_records(db: Session, actor: Actor, programme_id: int, query: str = "") -> TrustRecords:
    """The records of the programme's administrator, whichever of its programmes they were made
    through, and the broken-trust records in force of every other administrator. Another's lifted
    records are not shown: once a company's credit is repaired (信用修复) the record stops being
    shared, and its history is the recording administrator's."""
    programme = managed_programme(db, actor, programme_id)
    admin = programme.admin_org_id
    related = list(db.scalars(select(RelatedParties).where(RelatedParties.admin_org_id == admin)))
    trust = list(db.scalars(select(BrokenTrust).where(or_(BrokenTrust.admin_org_id == admin,
                                                          BrokenTrust.lifted_at.is_(None)))))
    orgs = accounts.organisations_by_id(db, {i for r in related for i in (r.org_a_id, r.org_b_id)}
                                        | {i for t in trust for i in (t.org_id, t.admin_org_id)})
    parties = {i: Party(o.id, o.name, o.name_en or "", o.uscc) for i, o in orgs.items()}
    vias = {p.id: Via(p.id, p.name_zh, p.name_en) for p in db.scalars(
        select(Programme).where(Programme.id.in_({r.programme_id for r in related} | {t.programme_id for t in trust})))}
    query = query.strip()[:100]
    pairs = sorted((RelatedEntry(parties[r.org_a_id], parties[r.org_b_id], r.reason, r.created_at, r.unmarked_at,
                                 r.unmark_reason, vias[r.programme_id]) for r in related),
                   key=lambda p: (p.unmarked_at is not None, -p.marked_at.timestamp()))
    records = sorted((TrustEntry(parties[t.org_id], t.source, t.reason, t.recorded_at, t.lifted_at, t.lift_reason,
                                 vias[t.programme_id], parties[t.admin_org_id], t.admin_org_id == admin)
                      for t in trust),
                     key=lambda t: (t.lifted_at is not None, -t.recorded_at.timestamp()))
    seen: set[object] = set()

    def first_in_force(key: object, in_force: bool) -> bool:
        if not in_force or key in seen:
            return False
        seen.add(key)
        return True

    pairs = [replace(p, changeable=first_in_force((p.a.id, p.b.id), p.unmarked_at is None)) for p in pairs]
    records = [replace(t, changeable=first_in_force(t.org.id, t.own and t.lifted_at is None)) for t in records]
    return TrustRecords([p for p in pairs if _matches(p.a, query) or _matches(p.b, query)],
                        [t for t in records if _matches(t.org, query)], query)


@dataclass(frozen=True)
class RecordAgainst:
    """A broken-trust record in force against an organisation, as the organisation itself sees it
    (its vouchers page): who made it, when, from what source and why, so it knows what to repair."""

    administrator: Party
    source: str
    reason: str
    recorded_at: datetime


def records_against(db: Session, org_id: int) -> list[RecordAgainst]:
    """The broken-trust records in force against ``org_id``, by any administrator, oldest first:
    while one holds, the organisation's vouchers are not spent."""
    rows = list(db.scalars(select(BrokenTrust).where(BrokenTrust.org_id == org_id, BrokenTrust.lifted_at.is_(None))
                           .order_by(BrokenTrust.recorded_at, BrokenTrust.id)))
    admins = accounts.organisations_by_id(db, {r.admin_org_id for r in rows})
    return [RecordAgainst(Party(a.id, a.name, a.name_en or "", a.uscc), r.source, r.reason, r.recorded_at)
            for r in rows for a in (admins[r.admin_org_id],)]
