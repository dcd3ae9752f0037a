"""What monitoring's case pages show, each read by one function: the data and what the viewer may do
with it, decided by the permission policy (``core.policy``, within the viewer's jurisdiction)
together with the case's stage, so that a page offers a step only when doing it would not be refused
and shows names and resident IDs only to whom may see them. The portal (``cases_pages.py``) renders
these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from qianshu.core import policy
from qianshu.core.actor import Actor
from qianshu.monitoring import case_views, cases
from qianshu.monitoring.models import Case, CaseEvent, Measure
from qianshu.monitoring.permissions import case_resource

# A caseworker opens cases for the villages of a county or below (a 6-digit division code or longer).
OPENING_LEVEL_DIGITS = 6



@dataclass(frozen=True)
class CaseListView:
    found: list[Case]
    identified: bool  # names and resident IDs unmasked (``monitoring.case.identify`` in the jurisdiction)
    may_open: bool  # open a case (a caseworker of a county or below: ``monitoring.case.open``)
    masked: dict[int, tuple[str, str]]  # case id → (name, resident ID) as shown


def case_list(db: Session, actor: Actor, filters: cases.Filters) -> CaseListView:
    """The cases in the caseworker's jurisdiction that match ``filters`` (``cases.list_cases``:
    ``monitoring.case.list``, audited)."""
    found = cases.list_cases(db, actor, filters)
    prefix = policy.division_prefix(actor.jurisdiction) or ""
    mine = case_resource(actor.jurisdiction or "")
    return CaseListView(
        found, policy.allows(actor, "monitoring.case.identify", mine),
        len(prefix) >= OPENING_LEVEL_DIGITS and policy.allows(actor, "monitoring.case.open", mine),
        {c.id: case_views.shown_head(actor, c) for c in found})


@dataclass(frozen=True)
class CaseView:
    case: Case
    events: list[CaseEvent]
    measures: list[Measure]
    name: str  # the household head's name as shown (masked for whom may not identify)
    resident_id: str
    identified: bool
    steps: list[str]  # the steps the viewer may do now: the case's stage allows them and the policy
    traces: list[dict[str, Any]]  # masked for a viewer who may not see resident IDs
    blockers: list[str]  # why the risk cannot be eliminated yet, in the page's language


def case_view(db: Session, actor: Actor, case_id: int, lang: str) -> CaseView:
    """One case in the caseworker's jurisdiction (``cases.get_case``: ``monitoring.case.read``, audited;
    outside it the case does not exist), with the steps the viewer may take."""
    case = cases.get_case(db, actor, case_id)
    name, resident_id = case_views.shown_head(actor, case)
    identified = case_views.may_identify(actor, case)
    steps = [s for s, declared in cases.STEPS.items() if case.stage in declared.before
             and policy.allows(actor, declared.action, case_resource(case.division_code))]
    blockers = ([b.render(lang) for b in cases.elimination_blockers(db, case)]
                if case.stage in ("monitored", "elimination_reviewed") else [])
    return CaseView(case, cases.events_of(db, case.id), cases.measures_of(db, case.id), name, resident_id,
                    identified, steps, case_views.masked_traces(case, identified), blockers)
