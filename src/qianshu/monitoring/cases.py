"""Monitoring cases: a household's way through the national mechanism (防止返贫动态监测和帮扶机制).

A household enters monitoring through one of four channels (``CHANNELS``): a warning of a
monitoring run (``case_opening.open_cases_from_flags``), its own application in the portal (self-report), a
cadre's visit, or linked monitoring by a department. Its case then goes, one step at a time, each
step by its level (``STEPS``; the policy's ``monitoring.case.*`` actions):

    clue ─visit→ visited ─cross_check→ cross_checked ─village_review→ village_noticed
      ─township_review→ township_reviewed ─county_approve→ monitored
    monitored: measure, revisit (any number of times) ─propose_elimination→ elimination_proposed
      ─elimination_visit→ elimination_visited ─elimination_notice→ elimination_noticed
      ─elimination_review→ elimination_reviewed ─elimination_approve→ closed (eliminated)

A review may reject (with a reason): an entry's rejection closes the case, an elimination's sends
it back to ``monitored``. Public notices last at least ``NOTICE_DAYS`` days before the township
may review. Risk is eliminated only when the household's monthly per-capita income has stayed
above the year's threshold (÷ 12) for at least six consecutive months and its guarantees are
secured (两不愁三保障); a household with no one able to work is never marked eliminated.

Every step is an append-only ``CaseEvent``; nothing is deleted. Each step carries the version the
caseworker saw: a second caseworker who loaded the same version gets a 409 (``Conflict``).
Services take ``(db, actor, ...)``, check the policy, never commit. Opening a case is in
``case_opening``, what each step records in ``case_records``, and how a case is shown (masked
unless the viewer may identify residents) in ``case_views``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from qianshu.core import audit, policy
from qianshu.core.actor import SYSTEM, Actor
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.timeutil import SHANGHAI, as_utc, utcnow
from qianshu.monitoring.case_records import due_in, record_event, tell
from qianshu.monitoring.case_views import may_identify
from qianshu.monitoring.models import Case, CaseEvent, Measure
from qianshu.monitoring.permissions import case_resource
from qianshu.monitoring.rules import MARGINAL, RULES, SUDDEN_DIFFICULTY, UNSTABLE_LIFTED

CAPABILITY = "monitoring"
CHANNELS = ("warning", "self_report", "cadre_visit", "linked")
HOUSEHOLD_TYPES = (UNSTABLE_LIFTED, MARGINAL, SUDDEN_DIFFICULTY)
RISK_TYPES = (*RULES, "accident", "other")
MEASURE_KINDS = ("industry_support", "small_loan", "employment", "public_welfare_post", "minimum_living_allowance",
                 "temporary_assistance", "medical_insurance_aid", "education_aid", "housing_renovation",
                 "drinking_water")
NOTICE_DAYS = 5
INCOME_MONTHS = 6
DEFAULT_THRESHOLD_FEN = 780_000
MAX_LISTED = 500
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
VILLAGE = re.compile(r"^\d{12}$")


@dataclass(frozen=True)
class Step:
    action: str  # the policy's action
    before: tuple[str, ...]  # the stages it may be done in
    after: str  # the stage it leads to ("" : the same)
    due_days: int | None  # the next step's deadline, from now (None: no deadline)
    level: str  # who must do the next step (the inbox is told): village, township, county


STAGES = ("clue", "visited", "cross_checked", "village_noticed", "township_reviewed", "monitored",
          "elimination_proposed", "elimination_visited", "elimination_noticed", "elimination_reviewed", "closed")
ENTRY = ("clue", "visited", "cross_checked", "village_noticed", "township_reviewed")
STEPS: dict[str, Step] = {
    "visit": Step("monitoring.case.open", ("clue",), "visited", 7, "village"),
    "cross_check": Step("monitoring.case.open", ("visited",), "cross_checked", 7, "village"),
    "village_review": Step("monitoring.case.village_review", ("cross_checked",), "village_noticed",
                           NOTICE_DAYS + 5, "township"),
    "township_review": Step("monitoring.case.township_review", ("village_noticed",), "township_reviewed", 7,
                            "county"),
    "county_approve": Step("monitoring.case.county_approve", ("township_reviewed",), "monitored", 15, "county"),
    "measure": Step("monitoring.case.county_approve", ("monitored",), "", 90, "village"),
    "revisit": Step("monitoring.case.open", ("monitored",), "", 90, "village"),
    "propose_elimination": Step("monitoring.case.village_review", ("monitored",), "elimination_proposed", 7,
                                "village"),
    "elimination_visit": Step("monitoring.case.open", ("elimination_proposed",), "elimination_visited", 7,
                              "village"),
    "elimination_notice": Step("monitoring.case.village_review", ("elimination_visited",), "elimination_noticed",
                               NOTICE_DAYS + 5, "township"),
    "elimination_review": Step("monitoring.case.township_review", ("elimination_noticed",), "elimination_reviewed",
                               7, "county"),
    "elimination_approve": Step("monitoring.case.county_approve", ("elimination_reviewed",), "closed", None, ""),
}
# Steps that decide (approve or reject, with a reason).
DECISIONS = ("village_review", "township_review", "county_approve", "elimination_review", "elimination_approve")
OPEN_DUE_DAYS = 7  # a clue is visited within a week


# --- reading -------------------------------------------------------------------------------------

def _visible(actor: Actor) -> Any:
    prefix = policy.division_prefix(actor.jurisdiction)
    if prefix is None:
        return Case.id < 0
    return Case.division_code.startswith(prefix, autoescape=True)


@dataclass
class Filters:
    stage: str = ""
    status: str = ""
    channel: str = ""
    reason: str = ""
    month: str = ""  # opened in this month (Beijing time), "2026-11"
    division: str = ""  # within this division (inside the jurisdiction)

    def clean(self) -> Filters:
        for name, allowed in (("stage", STAGES), ("status", ("open", "closed")), ("channel", CHANNELS),
                              ("reason", RISK_TYPES)):
            value = getattr(self, name)
            if value and value not in allowed:
                raise InvalidInput("{field}: unknown value {value}.", field=name, value=value[:40])
        if self.month and not MONTH.match(self.month):
            raise InvalidInput("{field}: a month as YYYY-MM.", field="month")
        if self.division and policy.division_prefix(self.division) is None:
            raise InvalidInput("{field}: unknown division code {value}.", field="division", value=self.division[:12])
        return self


def _month_bounds(month: str) -> tuple[datetime, datetime]:
    year, mon = int(month[:4]), int(month[5:])
    start = datetime(year, mon, 1, tzinfo=SHANGHAI)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=SHANGHAI)
    return as_utc(start), as_utc(end)


def list_cases(db: Session, actor: Actor, filters: Filters | None = None, *, audit_as: str = "listed") -> list[Case]:
    """The cases within the actor's jurisdiction (newest first, at most ``MAX_LISTED``); audited."""
    f = (filters or Filters()).clean()  # bad input is 422 before the permission is asked
    policy.require(actor, "monitoring.case.list")
    query = select(Case).where(_visible(actor))
    if f.stage:
        query = query.where(Case.stage == f.stage)
    if f.status:
        query = query.where(Case.status == f.status)
    if f.channel:
        query = query.where(Case.channel == f.channel)
    if f.division:
        query = query.where(Case.division_code.startswith(policy.division_prefix(f.division) or "-",
                                                          autoescape=True))
    if f.month:
        start, end = _month_bounds(f.month)
        query = query.where(Case.opened_at >= start, Case.opened_at < end)
    rows = list(db.scalars(query.order_by(Case.opened_at.desc(), Case.id.desc()).limit(MAX_LISTED * 4)))
    if f.reason:
        rows = [c for c in rows if f.reason in (c.reasons or []) or f.reason in (c.risk_types or [])]
    rows = rows[:MAX_LISTED]
    audit.record(db, actor, f"monitoring.cases.{audit_as}", target_type="monitoring_case", target_id="",
                 count=len(rows), case_ids=[c.id for c in rows],
                 identified=any(may_identify(actor, c) for c in rows[:1]),
                 filters={k: v for k, v in vars(f).items() if v})
    return rows


def get_case(db: Session, actor: Actor, case_id: int, *, audited: bool = True) -> Case:
    """One case; a case outside the actor's jurisdiction does not exist for them (404). Audited."""
    case = db.get(Case, case_id)
    missing = NotFound("Monitoring case {id} does not exist.", id=case_id)
    if case is None:
        raise missing
    policy.require(actor, "monitoring.case.read", case_resource(case.division_code), hidden=missing)
    if audited:
        audit.record(db, actor, "monitoring.case.viewed", target_type="monitoring_case", target_id=case.id,
                     identified=may_identify(actor, case))
    return case


def events_of(db: Session, case_id: int) -> list[CaseEvent]:
    return list(db.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)))


def measures_of(db: Session, case_id: int) -> list[Measure]:
    return list(db.scalars(select(Measure).where(Measure.case_id == case_id).order_by(Measure.id)))


def file_of_case(db: Session, actor: Actor, case_id: int, digest: str) -> dict[str, Any]:
    """A file of one of the case's events (a photo, the signed authorisation); audited."""
    get_case(db, actor, case_id, audited=False)
    policy.require(actor, "monitoring.case.identify", case_resource(db.get_one(Case, case_id).division_code))
    for event in events_of(db, case_id):
        for item in event.files or []:
            if item.get("digest") == digest:
                audit.record(db, actor, "monitoring.case.file_viewed", target_type="monitoring_case",
                             target_id=case_id, digest=digest)
                return dict(item)
    raise NotFound("Monitoring case {id} has no such file.", id=case_id)


def blob_in_use(db: Session, digest: str) -> bool:
    """Whether a case's event keeps ``digest`` (a visit's photo, authorisation or screening form):
    the registry's sweep of orphan blobs keeps it (the manifest's ``blob_references``)."""
    from sqlalchemy import String, cast

    return db.scalar(select(CaseEvent.id).where(cast(CaseEvent.files, String).contains(digest)).limit(1)) is not None


# --- steps ---------------------------------------------------------------------------------------

def _text(data: Mapping[str, Any], name: str, *, required: bool = False, limit: int = 4000) -> str:
    value = str(data.get(name) or "").strip()
    if required and not value:
        raise InvalidInput("{field}: this is required.", field=name)
    if len(value) > limit:
        raise InvalidInput("{field}: at most {limit} characters.", field=name, limit=limit)
    return value


def _int(data: Mapping[str, Any], name: str, *, low: int = 0, high: int = 10**12, required: bool = True) -> int | None:
    raw = data.get(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            raise InvalidInput("{field}: this is required.", field=name)
        return None
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise InvalidInput("{field}: give a whole number.", field=name) from None
    if not low <= value <= high:
        raise InvalidInput("{field}: between {low} and {high}.", field=name, low=low, high=high)
    return value


def _date(data: Mapping[str, Any], name: str, *, default: date | None = None) -> date:
    raw = data.get(name)
    if isinstance(raw, date):
        return raw
    if not raw:
        if default is not None:
            return default
        raise InvalidInput("{field}: this is required.", field=name)
    try:
        return date.fromisoformat(str(raw).strip())
    except ValueError:
        raise InvalidInput("{field}: a date as YYYY-MM-DD.", field=name) from None


def _decision(data: Mapping[str, Any]) -> tuple[bool, str]:
    decision = str(data.get("decision") or "").strip()
    if decision not in ("approve", "reject"):
        raise InvalidInput("{field}: approve or reject.", field="decision")
    reason = _text(data, "reason", required=decision == "reject")
    return decision == "approve", reason


def _today() -> date:
    return utcnow().astimezone(SHANGHAI).date()


def income_record(db: Session, case_id: int) -> dict[str, int]:
    """Month → monthly per-capita income (fen) as the revisits recorded it (the latest wins)."""
    months: dict[str, int] = {}
    for event in events_of(db, case_id):
        if event.step == "revisit":
            for item in event.details.get("income_months", []):
                months[item["month"]] = int(item["per_capita_fen"])
    return months


def _previous_month(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:])
    return f"{year - (mon == 1)}-{(mon - 2) % 12 + 1:02d}"


def elimination_blockers(db: Session, case: Case) -> list[InvalidInput | Conflict]:
    """Why the household's risk cannot be eliminated now (empty: it can)."""
    problems: list[InvalidInput | Conflict] = []
    if case.able_to_work is not None and case.able_to_work == 0:
        problems.append(Conflict("No one in this household is able to work: it stays monitored, with lasting "
                                 "assistance, and is never marked as eliminated.", field="able_to_work",
                                 code="no_one_able_to_work"))
        return problems
    if case.able_to_work is None:
        # Elimination must not pass a household whose members may all be unable to work.
        problems.append(Conflict("How many members are able to work has not been recorded: record it at a visit or "
                                 "revisit before proposing elimination.", field="able_to_work",
                                 code="work_ability_unknown"))
    months = income_record(db, case.id)
    monthly = -(-case.income_threshold_fen // 12)
    run, month = 0, max(months) if months else ""
    while month and month in months and months[month] >= monthly and run < INCOME_MONTHS:
        run, month = run + 1, _previous_month(month)
    if run < INCOME_MONTHS:
        problems.append(Conflict("The income has stayed above the threshold ({monthly} yuan a month per person) "
                                 "for {run} month(s) of the {needed} needed.", field="income_months",
                                 code="income_not_stable", monthly=f"{monthly / 100:,.2f}", run=run,
                                 needed=INCOME_MONTHS))
    # Six stable months long ago say nothing of today: the run must reach last month at least.
    last_month = _previous_month(_today().strftime("%Y-%m"))
    if months and max(months) < last_month:
        problems.append(Conflict("The latest income recorded is for {latest}: record the months up to {needed} at a "
                                 "revisit.", field="income_months", code="income_not_recent", latest=max(months),
                                 needed=last_month))
    last = next((e for e in reversed(events_of(db, case.id)) if e.step == "revisit"), None)
    if last is None or not last.details.get("guarantees_secured"):
        problems.append(Conflict("The guarantees (food, clothing, compulsory education, basic medical care, safe "
                                 "housing and drinking water) are not recorded as secured at the last revisit.",
                                 field="guarantees_secured", code="guarantees_not_secured"))
    return problems


def _income_months(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    raw = data.get("income_months") or []
    if isinstance(raw, str):  # "2026-05:80000, 2026-06:82000" from a form
        raw = [dict(zip(("month", "per_capita_fen"), part.strip().split(":", 1), strict=False))
               for part in raw.split(",") if part.strip()]
    out = []
    for item in raw:
        month = str(item.get("month", "")).strip()
        if not MONTH.match(month):
            raise InvalidInput("{field}: a month as YYYY-MM.", field="income_months")
        if month > _today().strftime("%Y-%m"):
            raise InvalidInput("{field}: {month} is still to come.", field="income_months", month=month)
        out.append({"month": month, "per_capita_fen": _int(item, "per_capita_fen")})
    return out


def _files(files: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    kinds = ("photo", "authorisation", "screening")
    out = []
    for f in files:
        if f.get("kind") not in kinds or not re.fullmatch(r"[0-9a-f]{64}", str(f.get("digest", ""))):
            raise InvalidInput("{field}: a file of the blob store (photo, authorisation or screening form).",
                               field="files")
        out.append({"digest": f["digest"], "name": str(f.get("name", ""))[:200], "kind": f["kind"],
                    "size": int(f.get("size") or 0)})
    return out


def advance(db: Session, actor: Actor, case_id: int, step: str, version: int, data: Mapping[str, Any],
            files: Sequence[Mapping[str, Any]] = ()) -> Case:
    """Do ``step`` on the case the caseworker saw at ``version``; 409 if someone changed it since."""
    if step not in STEPS:
        raise NotFound("No such step: {step}.", step=step[:40])
    declared = STEPS[step]
    case = get_case(db, actor, case_id, audited=False)
    policy.require(actor, declared.action, case_resource(case.division_code))
    stale = Conflict("Someone else changed this case since you opened it (you saw version {seen}, it is now "
                     "{current}). Reload the case and try again.", field="version", code="stale_case",
                     seen=version, current=case.version)
    if version != case.version:
        raise stale
    # Optimistic: only the writer that still finds the version it saw may write.
    bumped = db.execute(update(Case).where(Case.id == case.id, Case.version == version)
                        .values(version=Case.version + 1).execution_options(synchronize_session=False))
    if getattr(bumped, "rowcount", 1) != 1:
        raise stale
    db.refresh(case)
    if case.version != version + 1:
        raise stale
    if case.stage not in declared.before:
        raise Conflict("The case is at the step {stage}; this cannot be done now.", field="step",
                       code="case_stage", stage=case.stage)
    before = case.stage
    note = _text(data, "note")
    details: dict[str, Any] = {}
    event_files = _files(files)
    next_stage = declared.after or case.stage
    level = declared.level
    message = "Monitoring case {case} waits for you: {step}."
    if step in ("visit", "elimination_visit"):
        details["findings"] = _text(data, "findings", required=True)
        details["members"] = _int(data, "members", low=1, high=30, required=False)
        able = _int(data, "able_to_work", low=0, high=30, required=False)
        if able is not None:
            case.able_to_work = able
            details["able_to_work"] = able
        if details["members"]:
            case.members = details["members"]
        if step == "visit" and not any(f["kind"] == "authorisation" for f in event_files):
            raise InvalidInput("{field}: the household's signed authorisation is required.", field="authorisation")
    elif step == "cross_check":
        details["departments"] = _text(data, "departments", required=True)
        details["findings"] = _text(data, "findings", required=True)
    elif step in ("village_review", "elimination_notice"):
        approve, reason = (True, "") if step == "elimination_notice" else _decision(data)
        details.update(decision="approve" if approve else "reject", reason=reason)
        if approve:
            case.notice_started_on = _date(data, "notice_starts_on", default=_today())
            details["notice_starts_on"] = case.notice_started_on.isoformat()
    elif step in ("township_review", "elimination_review"):
        approve, reason = _decision(data)
        details.update(decision="approve" if approve else "reject", reason=reason)
        if approve and (case.notice_started_on is None
                        or _today() < case.notice_started_on + timedelta(days=NOTICE_DAYS)):
            raise Conflict("The public notice has not lasted {days} days yet (since {start}).", field="decision",
                           code="notice_running", days=NOTICE_DAYS, start=str(case.notice_started_on or "-"))
    elif step == "county_approve":
        approve, reason = _decision(data)
        details.update(decision="approve" if approve else "reject", reason=reason)
        if approve:
            kind = _text(data, "household_type", required=True)
            if kind not in HOUSEHOLD_TYPES:
                raise InvalidInput("{field}: unknown value {value}.", field="household_type", value=kind[:40])
            risks = data.get("risk_types") or []
            risks = [r.strip() for r in (risks.split(",") if isinstance(risks, str) else risks) if r.strip()]
            if not risks or set(risks) - set(RISK_TYPES):
                raise InvalidInput("{field}: name at least one known risk type.", field="risk_types")
            case.household_type, case.risk_types, case.confirmed_at = kind, risks, utcnow()
            details.update(household_type=kind, risk_types=risks)
            message = "Household of case {case} is now monitored: record its assistance measures."
    elif step == "measure":
        kind = _text(data, "kind", required=True)
        if kind not in MEASURE_KINDS:
            raise InvalidInput("{field}: unknown value {value}.", field="kind", value=kind[:40])
        starts = _date(data, "starts_on", default=_today())
        ends = _date(data, "ends_on") if data.get("ends_on") else None
        if ends is not None and ends < starts:
            raise InvalidInput("{field}: the end comes before the start.", field="ends_on")
        measure = Measure(case_id=case.id, kind=kind, department=_text(data, "department", required=True, limit=80),
                          amount_fen=_int(data, "amount_fen"), starts_on=starts, ends_on=ends, note=note,
                          created_by=actor.user_id)
        db.add(measure)
        details.update(kind=kind, department=measure.department, amount_fen=measure.amount_fen,
                       starts_on=starts.isoformat(), ends_on=ends.isoformat() if ends else None)
    elif step == "revisit":
        details["findings"] = _text(data, "findings", required=True)
        details["income_months"] = _income_months(data)
        details["guarantees_secured"] = str(data.get("guarantees_secured", "")).lower() in ("1", "true", "on", "yes")
        able = _int(data, "able_to_work", low=0, high=30, required=False)
        if able is not None:
            case.able_to_work = able
            details["able_to_work"] = able
    elif step == "propose_elimination":
        blockers = elimination_blockers(db, case)
        if blockers:
            raise blockers[0]
    if step == "elimination_approve":
        approve, reason = _decision(data)
        details.update(decision="approve" if approve else "reject", reason=reason)
        if approve:
            blockers = elimination_blockers(db, case)
            if blockers:
                raise blockers[0]
    if step in DECISIONS and details.get("decision") == "reject":
        if before in ENTRY:
            next_stage, case.status, case.outcome = "closed", "closed", "rejected"
            case.open_household, case.closed_at, level = None, utcnow(), ""
        else:  # an elimination rejected: the household stays monitored
            next_stage, level, message = "monitored", "village", "Risk elimination of case {case} was rejected."
    elif step == "elimination_approve":
        case.status, case.outcome, case.open_household, case.closed_at = "closed", "eliminated", None, utcnow()
    case.stage = next_stage
    case.stage_due_at = due_in(declared.due_days) if case.status == "open" else None
    if step == "revisit" or (step == "measure" and before == "monitored"):
        case.stage_due_at = due_in(declared.due_days)
    case.overdue_told = ""
    record_event(db, actor, case, step, before, note=note, details=details, files=event_files)
    if case.status == "open":
        tell(db, case, level, message)
    db.flush()
    return case


# --- deadlines -----------------------------------------------------------------------------------

def tell_overdue(db: Session, now: datetime | None = None, limit: int = 500) -> int:
    """Each open case whose step is past its deadline: its caseworkers are told once per step."""
    now = now or utcnow()
    due = list(db.scalars(select(Case).where(Case.status == "open", Case.stage_due_at < now)
                          .order_by(Case.stage_due_at).limit(limit * 2)))
    told = 0
    for case in due:
        if case.overdue_told == case.stage:
            continue
        level = "village" if case.stage in ("clue", "visited", "monitored", "elimination_proposed",
                                            "elimination_visited") else (
            "township" if case.stage in ("cross_checked", "village_noticed", "elimination_noticed")
            else "county")
        tell(db, case, level, "Monitoring case {case} is overdue at the step {step}.")
        if level != "county":
            tell(db, case, "county", "Monitoring case {case} is overdue at the step {step}.")
        case.overdue_told = case.stage
        record_event(db, SYSTEM, case, "overdue", case.stage, details={"due": as_utc(case.stage_due_at).isoformat()
                                                                 if case.stage_due_at else None})
        told += 1
        if told >= limit:
            break
    return told
