"""The rules' parameters as data: set per year and region, kept with their history.

The parameters in force for a region are ``RuleSet``'s defaults, overlaid with the newest row of
the province, then of the region's prefecture, then of its county (each row holds only the
parameters it sets): a county overrides the province field by field. Every edit is a new row
(``version`` + 1), so the history is the rows, and a run records the rows it used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.core import audit
from qianshu.core.actor import Actor
from qianshu.core.errors import Conflict, InvalidInput
from qianshu.core.identifiers import guizhou_parents, validate_division_code
from qianshu.core.policy import Resource, require
from qianshu.monitoring.models import RuleParameters
from qianshu.monitoring.rules import PARAMETERS, RuleSet
from qianshu.monitoring.versions import insert_next_version

PROVINCE = "520000"
EDIT_ATTEMPTS = 5


@dataclass(frozen=True)
class Effective:
    """The rules of a year for a region, and where each parameter came from."""

    rules: RuleSet
    row_ids: tuple[int, ...]  # the rows overlaid, province first
    sources: dict[str, str]  # parameter → the division that set it ("" for the default)


def _chain(division: str) -> list[str]:
    """The division and those above it, the province first."""
    chain = [division]
    parents = guizhou_parents()
    while chain[-1] != PROVINCE:
        parent = parents.get(chain[-1])
        if parent is None:
            break
        chain.append(parent)
    if chain[-1] != PROVINCE:
        chain.append(PROVINCE)
    return list(reversed(chain))


def newest(db: Session, year: int, division: str) -> RuleParameters | None:
    return db.scalars(select(RuleParameters).where(RuleParameters.year == year,
                                                   RuleParameters.division_code == division)
                      .order_by(RuleParameters.version.desc()).limit(1)).first()


def effective(db: Session, year: int, division: str = PROVINCE) -> Effective:
    """The parameters in force for ``division`` in ``year`` (no actor: runs and the CLI read them)."""
    values: dict[str, Any] = {}
    sources = dict.fromkeys(PARAMETERS, "")
    ids: list[int] = []
    for code in _chain(division):
        row = newest(db, year, code)
        if row is None:
            continue
        ids.append(row.id)
        for name, value in row.parameters.items():
            values[name] = value
            sources[name] = code
    return Effective(RuleSet.from_parameters(year, division, values), tuple(ids), sources)


def rules_for(db: Session, year: int, division: str = PROVINCE) -> RuleSet:
    return effective(db, year, division).rules


def set_parameters(db: Session, actor: Actor, year: int, division: str, parameters: dict[str, Any],
                   note: str = "") -> RuleParameters:
    """Store the parameters a region sets for a year (only those given; the others come from the
    regions above it, or the defaults). Refused, naming the field, if the rules they make are not."""
    division = validate_division_code(division, "division")
    if not 2000 <= year <= 2100:
        raise InvalidInput("{field}: not a plausible year", field="year")
    require(actor, "monitoring.rules.edit", Resource(division=division))
    # Check the parameters alone and with what they inherit (a county's threshold against the defaults).
    RuleSet.from_parameters(year, division, parameters)
    inherited = effective(db, year, division)
    merged = {**inherited.rules.parameters(), **parameters}
    RuleSet.from_parameters(year, division, merged)
    stored = dict(parameters)
    if "enabled" in stored:
        stored["enabled"] = sorted(stored["enabled"])
    latest = select(func.max(RuleParameters.version)).where(
        RuleParameters.year == year, RuleParameters.division_code == division)
    row = insert_next_version(  # two edits at once: the second takes the next version
        db, latest, lambda version: RuleParameters(year=year, division_code=division, version=version,
                                                   parameters=stored, note=note[:2000], set_by=actor.user_id),
        attempts=EDIT_ATTEMPTS, conflict=Conflict("The parameters were changed at the same moment; save them again.",
                                                  code="parameters_changed"))
    audit.record(db, actor, "monitoring.rules_set", target_type="monitoring_rule_parameters", target_id=row.id,
                 year=year, division=division, version=row.version, parameters=stored)
    return row


def history(db: Session, actor: Actor, year: int, division: str) -> list[RuleParameters]:
    division = validate_division_code(division, "division")  # 422 before the jurisdiction's 403
    require(actor, "monitoring.rules.read", Resource(division=division))
    return list(db.scalars(select(RuleParameters).where(RuleParameters.year == year,
                                                        RuleParameters.division_code.in_(_chain(division)))
                           .order_by(RuleParameters.set_at.desc(), RuleParameters.id.desc())))


def seed_defaults(db: Session, actor: Actor, year: int) -> RuleParameters | None:
    """The province's defaults as its first row of the year (the demo's seed); nothing if set already."""
    if newest(db, year, PROVINCE) is not None:
        return None
    return set_parameters(db, actor, year, PROVINCE, RuleSet(year=year).parameters(), note="defaults")
