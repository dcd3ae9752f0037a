"""How a household enters monitoring: a run's warnings opened in bulk (``open_cases_from_flags``),
or one case from a cadre's visit, linked monitoring or a self-report (``open_case``). A household
has at most one open case (``Case.open_household`` is unique), so a repeat run opens nothing twice."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.core import audit, policy
from qianshu.core.actor import SYSTEM, Actor
from qianshu.core.errors import Conflict, InvalidInput
from qianshu.core.identifiers import validate_resident_id
from qianshu.core.timeutil import utcnow
from qianshu.monitoring.case_records import due_in, record_event, tell, tell_at
from qianshu.monitoring.cases import CHANNELS, DEFAULT_THRESHOLD_FEN, OPEN_DUE_DAYS, RISK_TYPES, VILLAGE
from qianshu.monitoring.models import Case, CaseEvent
from qianshu.monitoring.permissions import case_resource


def _open(db: Session, actor: Actor, *, household_id: str, division_code: str, channel: str, note: str = "",
          proposed_type: str = "", reasons: Sequence[str] = (), traces: Sequence[Mapping[str, Any]] = (),
          head_name: str = "", head_resident_id: str = "", members: int = 0, run_ref: str = "",
          income_threshold_fen: int = DEFAULT_THRESHOLD_FEN) -> Case | None:
    """A new case (stage ``clue``), or None when the household already has an open case (a run's
    warnings are opened in bulk: ``open_cases_from_flags``)."""
    if db.scalar(select(Case.id).where(Case.open_household == household_id)) is not None:
        return None
    case = Case(household_id=household_id, open_household=household_id, division_code=division_code,
                channel=channel, stage="clue", status="open", proposed_type=proposed_type, reasons=list(reasons),
                traces=[dict(t) for t in traces], head_name=head_name[:60], head_resident_id=head_resident_id,
                members=members, run_ref=run_ref[:80], income_threshold_fen=income_threshold_fen,
                stage_due_at=due_in(OPEN_DUE_DAYS))
    db.add(case)
    db.flush()
    record_event(db, actor, case, "opened", "", note=note,
           details={"channel": channel, "reasons": list(reasons), "run_ref": run_ref})
    tell(db, case, "village", "Monitoring case {case} waits for you: {step}.")
    return case


def open_cases_from_flags(db: Session, flags: Iterable[Mapping[str, Any]], run_ref: str, *,
                          income_threshold_fen: int = DEFAULT_THRESHOLD_FEN) -> tuple[int, int]:
    """Open a case (channel ``warning``) for each flagged household that has no open case; the
    run job calls this with its results. Returns (opened, skipped: already open).

    ``flags``: one mapping per flagged household, as ``flags_from_run`` makes them from
    ``rules.RunResult``:

    - ``household_id`` (str), ``division_code`` (its village, 12 digits),
    - ``proposed_type`` (``rules.UNSTABLE_LIFTED`` / ``MARGINAL`` / ``SUDDEN_DIFFICULTY``),
    - ``reasons`` (rule codes, ``rules.RULES``),
    - ``traces``: [{``reason``, ``source_feed``, ``source_key``, ``value``}] (what each reason rests on),
    - optional ``head_name``, ``head_resident_id``, ``members``.

    ``run_ref`` names the run (kept on the case and its first event). A repeat run opens nothing
    for a household whose case is still open. The cases, their first events and their inbox
    notes are written in bulk, ``OPEN_CHUNK`` households a statement (a province's run flags
    hundreds of thousands); a household whose case another transaction opened meanwhile is skipped
    by the database itself (``ON CONFLICT DO NOTHING`` on ``open_household``).
    """
    rows = list(flags)
    for row in rows:  # every code checked before anything is written
        if not VILLAGE.match(str(row["division_code"])):
            raise InvalidInput("{field}: a village code has 12 digits.", field="division_code")
    opened = 0
    known: dict[str, list[int]] = {}  # the caseworkers of each village, looked up once
    seen: set[str] = set()  # a household listed twice gets one case
    for start in range(0, len(rows), OPEN_CHUNK):
        opened += _open_warnings(db, rows[start:start + OPEN_CHUNK], run_ref, income_threshold_fen, known, seen)
    skipped = len(rows) - opened
    audit.record(db, SYSTEM, "monitoring.cases.opened_from_run", target_type="monitoring_run", target_id=run_ref,
                 opened=opened, skipped=skipped)
    return opened, skipped


OPEN_CHUNK = 2_000


def _open_warnings(db: Session, rows: Sequence[Mapping[str, Any]], run_ref: str, threshold: int,
                   known: dict[str, list[int]], seen: set[str]) -> int:
    """One chunk of ``open_cases_from_flags``: three bulk INSERTs (cases, events, inbox notes)."""
    households = [str(row["household_id"]) for row in rows]
    already = set(db.scalars(select(Case.open_household).where(Case.open_household.in_(households))))
    due, now = due_in(OPEN_DUE_DAYS), utcnow()
    values: list[dict[str, Any]] = []
    for household, row in zip(households, rows, strict=True):
        if household in already or household in seen:
            continue
        seen.add(household)
        values.append({
            "household_id": household, "open_household": household, "division_code": str(row["division_code"]),
            "channel": "warning", "stage": "clue", "status": "open", "outcome": "",
            "proposed_type": str(row.get("proposed_type") or ""), "household_type": "", "risk_types": [],
            "reasons": list(row.get("reasons") or ()), "traces": [dict(t) for t in row.get("traces") or ()],
            "head_name": str(row.get("head_name") or "")[:60],
            "head_resident_id": str(row.get("head_resident_id") or ""), "members": int(row.get("members") or 0),
            "run_ref": run_ref[:80], "income_threshold_fen": threshold, "stage_due_at": due, "overdue_told": "",
            "opened_at": now, "version": 1})
    if not values:
        return 0
    # Core statements on the tables (the ORM's bulk path costs more than the INSERTs themselves)
    dialect_insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    cases = cast(Table, Case.__table__)
    statement = (dialect_insert(cases).on_conflict_do_nothing(index_elements=["open_household"])
                 .returning(cases.c.id, cases.c.household_id))
    ids = {household: case_id for case_id, household in db.execute(statement, values)}
    created = [v for v in values if v["household_id"] in ids]
    if not created:
        return 0
    villages = {v["division_code"] for v in created} - set(known)
    known.update(accounts.user_ids_with_jurisdictions(db, sorted(villages)))
    db.execute(insert(cast(Table, CaseEvent.__table__)), [{
        "case_id": ids[v["household_id"]], "step": "opened", "stage_before": "", "stage_after": "clue",
        "actor_user_id": SYSTEM.user_id, "actor_label": SYSTEM.display_name[:200], "note": "",
        "details": {"channel": "warning", "reasons": v["reasons"], "run_ref": run_ref}, "files": [],
        "created_at": now} for v in created])
    for v in created:
        tell_at(db, ids[v["household_id"]], v["division_code"], "clue", "village",
                 "Monitoring case {case} waits for you: {step}.", known)
    db.flush()
    return len(created)


def flags_from_run(result: Any, registration: Any = None) -> list[dict[str, Any]]:
    """``rules.RunResult`` (and, optionally, the ``household_registration`` feed as an Arrow table,
    for the head's name and resident ID and the household's size) → ``open_cases_from_flags``'s input."""
    traces: dict[str, list[dict[str, Any]]] = {}
    for row in result.flags.to_pylist():
        traces.setdefault(row["household_id"], []).append(
            {"reason": row["reason"], "source_feed": row["source_feed"], "source_key": row["source_key"],
             "value": row["value"]})
    heads, sizes = _heads(registration, set(traces))
    rows = []
    for household in result.households.to_pylist():
        key = household["household_id"]
        name, resident_id = heads.get(key, ("", ""))
        rows.append({"household_id": key, "division_code": household["division_code"],
                     "proposed_type": household["proposed_type"], "reasons": list(household["reasons"]),
                     "traces": traces.get(key, []), "head_name": name, "head_resident_id": resident_id,
                     "members": sizes.get(key, 0)})
    return rows


def flags_from_flagged(flagged: Iterable[Any], registration: Any = None) -> list[dict[str, Any]]:
    """A run's flagged households (``runs.flagged_households``: ``runs.Flagged`` rows, each with its
    ``runs.Reason``s) → ``open_cases_from_flags``'s input; ``registration`` as for ``flags_from_run``.
    A reason recorded on several records appears once in ``reasons`` and once per record in ``traces``."""
    found = list(flagged)
    heads, sizes = _heads(registration, {f.household_id for f in found})
    rows = []
    for f in found:
        name, resident_id = heads.get(f.household_id, ("", ""))
        rows.append({"household_id": f.household_id, "division_code": f.village_code,
                     "proposed_type": f.proposed_type, "reasons": list(dict.fromkeys(r.reason for r in f.reasons)),
                     "traces": [{"reason": r.reason, "source_feed": r.source_feed, "source_key": r.source_key,
                                 "value": r.value, "feed_version_ids": list(r.feed_version_ids)} for r in f.reasons],
                     "head_name": name, "head_resident_id": resident_id, "members": sizes.get(f.household_id, 0)})
    return rows


def _heads(registration: Any, wanted: set[str]) -> tuple[dict[str, tuple[str, str]], dict[str, int]]:
    """From the household registration (an Arrow table): each wanted household's head (name,
    resident ID) and its number of members."""
    heads: dict[str, tuple[str, str]] = {}
    sizes: dict[str, int] = {}
    if registration is None:
        return heads, sizes
    for person in registration.select(["household_id", "resident_id", "name", "relation"]).to_pylist():
        if person["household_id"] in wanted:
            sizes[person["household_id"]] = sizes.get(person["household_id"], 0) + 1
            if person["relation"] == "head":
                heads[person["household_id"]] = (person["name"], person["resident_id"])
    return heads, sizes


def require_self_report(actor: Actor) -> None:
    """Refuse the self-report form to whom may not apply (``monitoring.case.self_report``)."""
    policy.require(actor, "monitoring.case.self_report")


def require_caseworker(actor: Actor) -> None:
    """Refuse a caseworker's form of opening a case to whom sees no cases (``monitoring.case.list``);
    opening it checks ``monitoring.case.open`` in the case's village."""
    policy.require(actor, "monitoring.case.list")


def open_case(db: Session, actor: Actor, *, channel: str, household_id: str, division_code: str,
              head_name: str, head_resident_id: str, members: int, note: str,
              risk_types: Sequence[str] = ()) -> Case:
    """A case from a cadre's visit, linked monitoring (by a caseworker) or a self-report (by anyone)."""
    if channel not in CHANNELS or channel == "warning":
        raise InvalidInput("{field}: a cadre's visit, linked monitoring or a self-report.", field="channel")
    division_code = division_code.strip()
    if not VILLAGE.match(division_code):
        raise InvalidInput("{field}: a village code has 12 digits.", field="division_code")
    if not head_name.strip():
        raise InvalidInput("{field}: give the name.", field="head_name")
    resident_id = validate_resident_id(head_resident_id, "head_resident_id")
    unknown = set(risk_types) - set(RISK_TYPES)
    if unknown:
        raise InvalidInput("{field}: unknown risk types {types}.", field="risk_types", types=", ".join(sorted(unknown)))
    if not 1 <= members <= 30:
        raise InvalidInput("{field}: between 1 and 30 members.", field="members")
    action = "monitoring.case.self_report" if channel == "self_report" else "monitoring.case.open"
    policy.require(actor, action, case_resource(division_code))
    household = household_id.strip() or f"R{resident_id}"
    case = _open(db, actor, household_id=household[:40], division_code=division_code, channel=channel,
                 note=note, reasons=list(risk_types), head_name=head_name.strip(), head_resident_id=resident_id,
                 members=members)
    if case is None:
        raise Conflict("This household is already in monitoring (an open case).", field="household_id",
                       code="case_open")
    return case
