"""Quality on the six indicators of GB/T 36344-2018, each 0-100 with its basis and reason.

| indicator     | measured from the data                                   | otherwise        |
|---------------|----------------------------------------------------------|------------------|
| normativity   | codes failing their check digit; empty or duplicate headers | —            |
| completeness  | share of empty cells                                     | —                |
| accuracy      | type conformance; dates in the future or before 1900     | —                |
| consistency   | exact duplicate rows; dates outside the declared coverage | —              |
| timeliness    | age of the newest date vs the declared update frequency | declared coverage end |

Birth-date columns (``pii.birth_date_columns``: named 出生日期, 生日, birth_date, DOB …, or
repeating the birth date of the same row's resident ID) count for neither
the coverage nor the freshness: the pipeline leaves them out of ``earliest_date`` and
``latest_date`` (and names them in ``birth_date_columns``). A resident ID's embedded birth date
is never read as a date.
| accessibility | —                                                        | the declaration  |

A reviewer may override any score with a reason (basis ``reviewer``). Reasons are English
message ids with parameters, rendered in the reader's language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from qianshu.registry.models import QUALITY_INDICATORS

FREQUENCY_DAYS = {"realtime": 1, "daily": 1, "weekly": 7, "monthly": 31, "quarterly": 92, "yearly": 366}


@dataclass
class Score:
    indicator: str
    score: int
    basis: str
    reason: str
    params: dict[str, Any] = field(default_factory=dict)


def _clamp(value: float) -> int:
    return max(0, min(100, round(value)))


def score_quality(m: dict[str, Any], declaration: dict[str, Any], today: date,
                  reviewer: dict[str, Any] | None = None) -> list[Score]:
    """``m``: the pipeline's measurements; ``declaration``: the merchant's declared facts."""
    scores = {
        "normativity": _normativity(m),
        "completeness": _completeness(m),
        "accuracy": _accuracy(m),
        "consistency": _consistency(m, declaration),
        "timeliness": _timeliness(m, declaration, today),
        "accessibility": _accessibility(declaration),
    }
    for indicator, override in (reviewer or {}).items():
        if indicator in scores and isinstance(override, dict):
            scores[indicator] = Score(indicator, _clamp(float(override.get("score", 0))), "reviewer",
                                      "Set by the reviewer: {reason}",
                                      {"reason": str(override.get("reason", ""))[:500]})
    return [scores[i] for i in QUALITY_INDICATORS]


def _normativity(m: dict[str, Any]) -> Score:
    checked = sum(int(v.get("checked", 0)) for v in m.get("codes", {}).values())
    invalid = sum(int(v.get("invalid", 0)) for v in m.get("codes", {}).values())
    renamed = int(m.get("renamed_headers", 0))
    share = invalid / checked if checked else 0.0
    value = 100 * (1 - share) - min(20, 2 * renamed)
    return Score("normativity", _clamp(value), "measured",
                 "{invalid} of {checked} coded values fail their check digit or code list; "
                 "{renamed} column headers were empty or duplicated.",
                 {"invalid": invalid, "checked": checked, "renamed": renamed})


def _completeness(m: dict[str, Any]) -> Score:
    total = int(m.get("total_cells", 0))
    empty = int(m.get("null_cells", 0))
    share = empty / total if total else 0.0
    worst = ", ".join(f"{c} ({r:.0%})" for c, r in m.get("worst_null_columns", [])[:3]) or "-"
    return Score("completeness", _clamp(100 * (1 - share)), "measured",
                 "{share} of cells are empty; the emptiest columns: {worst}.",
                 {"share": f"{share:.1%}", "worst": worst})


def _accuracy(m: dict[str, Any]) -> Score:
    conformance = float(m.get("type_conformance", 1.0))
    out_of_range = int(m.get("out_of_range", 0))
    sampled = max(int(m.get("sampled_rows", 0)), 1)
    value = 100 * conformance * (1 - min(1.0, out_of_range / sampled))
    return Score("accuracy", _clamp(value), "measured",
                 "{conformance} of values conform to their column's type; {out_of_range} sampled values are "
                 "out of range (dates in the future or before 1900, negative amounts).",
                 {"conformance": f"{conformance:.1%}", "out_of_range": out_of_range})


def _consistency(m: dict[str, Any], declaration: dict[str, Any]) -> Score:
    rows = max(int(m.get("row_count", 0)), 1)
    duplicates = int(m.get("duplicate_rows", 0))
    value = 100 * (1 - duplicates / rows)
    outside = False
    start, end = declaration.get("time_coverage_start"), declaration.get("time_coverage_end")
    earliest, latest = m.get("earliest_date"), m.get("latest_date")
    if start and end and earliest and latest and (earliest < str(start) or latest > str(end)):
        outside = True
        value -= 10
    return Score("consistency", _clamp(value), "measured",
                 "{duplicates} rows are exact duplicates; data dates {inside} the declared time coverage.",
                 {"duplicates": duplicates, "inside": "fall outside" if outside else "agree with"})


def _timeliness(m: dict[str, Any], declaration: dict[str, Any], today: date) -> Score:
    frequency = str(declaration.get("update_frequency") or "")
    interval = FREQUENCY_DAYS.get(frequency)
    latest_text = m.get("latest_date")
    basis = "measured"
    if not latest_text and declaration.get("time_coverage_end"):
        latest_text, basis = str(declaration["time_coverage_end"]), "declared"
    if not latest_text:
        return Score("timeliness", 60, "declared", "No dates in the data or the declaration to measure.")
    latest = date.fromisoformat(str(latest_text)[:10])
    age = max(0, (today - latest).days)
    if interval is None:  # a one-off data set: it is as timely as it claims to be
        return Score("timeliness", 90 if frequency == "once" else 70, basis,
                     "Newest date {latest}; no regular update frequency is declared.", {"latest": str(latest)})
    overdue = age / interval - 2
    value = 100 if overdue <= 0 else 100 - 10 * overdue
    return Score("timeliness", _clamp(value), basis,
                 "Newest date {latest} is {age} days old; the declared update frequency is {frequency}.",
                 {"latest": str(latest), "age": age, "frequency": frequency})


def _accessibility(declaration: dict[str, Any]) -> Score:
    value = 70  # normalised to an open format (Parquet) with a profile of every column
    bilingual = bool(declaration.get("description_zh")) and bool(declaration.get("description_en"))
    documented = len(str(declaration.get("description_zh") or "")) >= 30
    value += 15 if bilingual else 0
    value += 15 if documented else 0
    return Score("accessibility", value, "declared",
                 "Open format (Parquet) with a column profile; bilingual description: {bilingual}; "
                 "documented: {documented}.",
                 {"bilingual": "yes" if bilingual else "no", "documented": "yes" if documented else "no"})
