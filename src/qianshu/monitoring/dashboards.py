"""Dashboards of monitoring by division: households flagged, confirmed (monitored), assisted and
with risk eliminated, by reason and by month, and a drill-down from the province to the village.

Counted over the cases within the viewer's jurisdiction (and within the division they drilled
into): a household counts once per case. *Flagged*: every case opened (any channel);
*confirmed*: approved by the county; *assisted*: with at least one assistance measure;
*eliminated*: closed with its risk eliminated. Months are counted in Beijing time. Only counts
leave here: no name and no resident ID.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core import audit, i18n, policy
from qianshu.core.actor import Actor
from qianshu.core.errors import InvalidInput, NotFound
from qianshu.core.timeutil import SHANGHAI, as_utc
from qianshu.core.vocabulary import region_name
from qianshu.monitoring.models import Case, Measure

MEASURES = ("flagged", "confirmed", "assisted", "eliminated")
SERIES = ("by_division", "by_reason", "by_month")
# Digits of a division code at each level, and the level below.
LEVEL_DIGITS = {"province": 2, "prefecture": 4, "county": 6, "township": 9, "village": 12}
CHILD = {"province": "prefecture", "prefecture": "county", "county": "township", "township": "village"}


@dataclass
class Row:
    key: str  # a division code, a reason, a month
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MEASURES, 0))

    def label(self, lang: str, series: str) -> str:
        if series == "by_division":
            return division_name(self.key, lang)
        if series == "by_reason":
            return i18n.label(self.key, "monitoring reason", lang)
        return self.key


@dataclass
class Dashboard:
    division: str  # the division shown (within the viewer's jurisdiction)
    level: str
    parents: list[str]  # from the jurisdiction down to the division's parent, for the breadcrumb
    totals: dict[str, int]
    series: dict[str, list[Row]]

    @property
    def child_level(self) -> str:
        return CHILD.get(self.level, "")


def full_code(prefix: str) -> str:
    """A division prefix as its code: ``52`` → ``520000``, ``5201`` → ``520100``; 6, 9, 12 digits as they are."""
    return prefix.ljust(6, "0") if len(prefix) < 6 else prefix


def division_name(code: str, lang: str) -> str:
    """The name of a division: GB/T 2260 for the province, prefectures and counties; the synthetic
    townships and villages (population.py) are numbered within their county and township."""
    if len(code) == 9:
        return f"乡镇 {code[6:]}" if lang == "zh" else f"Township {code[6:]}"
    if len(code) == 12:
        return f"村 {code[9:]}" if lang == "zh" else f"Village {code[9:]}"
    name = region_name(code, lang)
    return name if name != code else code


def _month(value: object) -> str:
    from datetime import datetime

    assert isinstance(value, datetime)
    return as_utc(value).astimezone(SHANGHAI).strftime("%Y-%m")


def compute(db: Session, actor: Actor, division: str = "") -> Dashboard:
    """The dashboard of ``division`` (default: the actor's jurisdiction), which must lie within it.
    A malformed division asked for is 422 before the permission is asked."""
    division = division.strip()
    if division and policy.division_prefix(division) is None:
        raise InvalidInput("{field}: unknown division code {value}.", field="division", value=division[:12])
    policy.require(actor, "monitoring.dashboard")
    jurisdiction = actor.jurisdiction or ""
    division = division or jurisdiction
    prefix = policy.division_prefix(division)
    if prefix is None:
        raise InvalidInput("{field}: unknown division code {value}.", field="division", value=division[:12])
    if not policy.within(jurisdiction, division):
        raise NotFound("The division {division} is not within your jurisdiction.", division=division)
    level = policy.division_level(division) or "province"
    cases = db.execute(select(Case.id, Case.division_code, Case.opened_at, Case.confirmed_at, Case.outcome,
                              Case.reasons).where(Case.division_code.startswith(prefix, autoescape=True))).all()
    assisted = set(db.scalars(select(Measure.case_id).distinct().join(Case, Case.id == Measure.case_id)
                              .where(Case.division_code.startswith(prefix, autoescape=True))))
    child_digits = LEVEL_DIGITS.get(CHILD.get(level, ""), 12)
    groups: dict[str, dict[str, Row]] = defaultdict(dict)
    totals = Counter[str]()
    for case_id, code, opened_at, confirmed_at, outcome, reasons in cases:
        hits = ["flagged"]
        if confirmed_at is not None:
            hits.append("confirmed")
        if case_id in assisted:
            hits.append("assisted")
        if outcome == "eliminated":
            hits.append("eliminated")
        keys = {"by_division": [full_code(code[:child_digits])], "by_month": [_month(opened_at)],
                "by_reason": list(reasons or []) or ["-"]}
        for name, values in keys.items():
            for key in values:
                row = groups[name].setdefault(key, Row(key))
                for hit in hits:
                    row.counts[hit] += 1
        for hit in hits:
            totals[hit] += 1
    series = {
        "by_division": sorted(groups["by_division"].values(), key=lambda r: r.key),
        "by_month": sorted(groups["by_month"].values(), key=lambda r: r.key),
        "by_reason": sorted(groups["by_reason"].values(), key=lambda r: (-r.counts["flagged"], r.key)),
    }
    parents = []
    top = policy.division_prefix(jurisdiction) or prefix
    for digits in (2, 4, 6, 9):
        if len(top) <= digits < len(prefix):
            parents.append(full_code(prefix[:digits]))
    audit.record(db, actor, "monitoring.dashboard.viewed", target_type="division", target_id=full_code(prefix))
    return Dashboard(full_code(prefix), level, parents, {m: totals[m] for m in MEASURES}, series)


def to_rows(board: Dashboard, name: str, lang: str) -> list[list[object]]:
    if name not in SERIES:
        raise NotFound("Not found.")
    header: list[object] = ["key", "label", *MEASURES]
    return [header, *([r.key, r.label(lang, name), *(r.counts[m] for m in MEASURES)] for r in board.series[name])]


def to_csv(board: Dashboard, name: str, lang: str) -> str:
    out = io.StringIO()
    out.write("\ufeff")  # Excel reads the Chinese
    csv.writer(out).writerows(to_rows(board, name, lang))
    return out.getvalue()


def to_xlsx(board: Dashboard, lang: str) -> bytes:
    """Every series of the dashboard, one sheet each, for reporting."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name in SERIES:
        sheet = book.create_sheet(name)
        for row in to_rows(board, name, lang):
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@dataclass(frozen=True)
class Cell:
    """A rectangle of the drill-down map: a child division, sized by its flagged households."""

    code: str
    x: float
    y: float
    w: float
    h: float
    row: Row


def treemap(rows: list[Row], width: float = 640, height: float = 320) -> list[Cell]:
    """A slice-and-dice treemap of the divisions (sized by flagged households, at least a sliver)."""
    items = sorted(rows, key=lambda r: -r.counts["flagged"])
    cells: list[Cell] = []
    x, y, w, h = 0.0, 0.0, width, height
    remaining = [max(r.counts["flagged"], 1) for r in items]
    for i, row in enumerate(items):
        total = sum(remaining[i:])
        share = remaining[i] / total if total else 1
        if i == len(items) - 1:
            cells.append(Cell(row.key, x, y, w, h, row))
        elif w >= h:
            cw = w * share
            cells.append(Cell(row.key, x, y, cw, h, row))
            x, w = x + cw, w - cw
        else:
            ch = h * share
            cells.append(Cell(row.key, x, y, w, ch, row))
            y, h = y + ch, h - ch
    return cells
