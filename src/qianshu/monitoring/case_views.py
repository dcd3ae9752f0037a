"""How a monitoring case is shown: resident IDs and names masked unless the viewer's role needs
them (the policy's ``monitoring.case.identify``), and the case as JSON and CSV."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qianshu.core import policy
from qianshu.core.actor import Actor
from qianshu.core.timeutil import as_utc
from qianshu.monitoring.models import Case, CaseEvent, Measure
from qianshu.monitoring.permissions import case_resource

# The reasons whose trace value is an amount in fen (rules.py: the household's income of the year,
# the last three months' income, out-of-pocket medical spending, a disaster's loss); the others
# carry a grade, a count or a marker.
MONEY_REASONS = frozenset({"income_below_threshold", "sharp_income_drop", "medical_burden", "disaster_loss"})

# --- masking -------------------------------------------------------------------------------------

def mask_name(name: str) -> str:
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""


def mask_resident_id(resident_id: str) -> str:
    return resident_id[:6] + "*" * 8 + resident_id[-4:] if len(resident_id) == 18 else "*" * len(resident_id)


def masked_traces(case: Case, identified: bool) -> list[dict[str, Any]]:
    """The case's traces; a trace that rests on a resident (a resident ID as its key) is masked
    for a viewer who may not see resident IDs."""
    if identified:
        return [dict(t) for t in case.traces or []]
    return [{**t, "source_key": mask_resident_id(str(t.get("source_key", "")))
             if len(str(t.get("source_key", ""))) == 18 else t.get("source_key")} for t in case.traces or []]


def may_identify(actor: Actor, case: Case) -> bool:
    return policy.allows(actor, "monitoring.case.identify", case_resource(case.division_code))


def shown_head(actor: Actor, case: Case) -> tuple[str, str]:
    """The household head's name and resident ID as the viewer sees them: masked unless it may identify."""
    if may_identify(actor, case):
        return case.head_name, case.head_resident_id
    return mask_name(case.head_name), mask_resident_id(case.head_resident_id)


def may_read(actor: Actor, case: Case) -> bool:
    """Whether the actor sees the case (a caseworker of its division: ``monitoring.case.read``); a
    household that reported itself gets a receipt instead."""
    return policy.allows(actor, "monitoring.case.read", case_resource(case.division_code))



# --- JSON and CSV --------------------------------------------------------------------------------

def case_json(actor: Actor, case: Case) -> dict[str, Any]:
    identified = may_identify(actor, case)
    return {
        "id": case.id, "version": case.version, "household_id": case.household_id,
        "division_code": case.division_code, "channel": case.channel, "stage": case.stage, "status": case.status,
        "outcome": case.outcome, "proposed_type": case.proposed_type, "household_type": case.household_type,
        "risk_types": case.risk_types, "reasons": case.reasons, "traces": masked_traces(case, identified),
        "head_name": case.head_name if identified else mask_name(case.head_name),
        "head_resident_id": case.head_resident_id if identified else mask_resident_id(case.head_resident_id),
        "identified": identified, "members": case.members, "able_to_work": case.able_to_work,
        "run_ref": case.run_ref, "notice_started_on": case.notice_started_on.isoformat() if case.notice_started_on
        else None, "stage_due_at": as_utc(case.stage_due_at).isoformat() if case.stage_due_at else None,
        "opened_at": as_utc(case.opened_at).isoformat(),
        "closed_at": as_utc(case.closed_at).isoformat() if case.closed_at else None,
    }


def event_json(event: CaseEvent, identified: bool) -> dict[str, Any]:
    return {"id": event.id, "step": event.step, "stage_before": event.stage_before,
            "stage_after": event.stage_after, "by": event.actor_label, "note": event.note, "details": event.details,
            "files": [{k: v for k, v in f.items() if identified or k != "digest"} for f in event.files or []],
            "at": as_utc(event.created_at).isoformat()}


def measure_json(m: Measure) -> dict[str, Any]:
    return {"id": m.id, "kind": m.kind, "department": m.department, "amount_fen": m.amount_fen,
            "starts_on": m.starts_on.isoformat(), "ends_on": m.ends_on.isoformat() if m.ends_on else None,
            "note": m.note}


CSV_COLUMNS = ("id", "household_id", "division_code", "channel", "stage", "status", "outcome", "proposed_type",
               "household_type", "reasons", "risk_types", "head_name", "head_resident_id", "members", "opened_at",
               "stage_due_at")


def cases_csv(actor: Actor, cases: Sequence[Case]) -> str:
    import csv
    import io

    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for case in cases:
        row = case_json(actor, case)
        writer.writerow([";".join(row[c]) if isinstance(row[c], list) else ("" if row[c] is None else row[c])
                         for c in CSV_COLUMNS])
    return out.getvalue()
