"""The registration pipeline without the database: files in, Parquet and findings out.

normalise (ingest.py) → profile (profile.py) → sample → type conformance, PII scan
(pii.py), out-of-range and code checks → measurements for quality.py. The caller (jobs.py)
stores the Parquet in the blob store and the results in the database in one transaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from qianshu.core.analytics import Limits
from qianshu.core.identifiers import is_valid_division_code
from qianshu.registry import ingest, pii
from qianshu.registry.ingest import IngestedFile, SourceFile
from qianshu.registry.profile import (
    TEMPORAL,
    DatasetStats,
    create_sample,
    literal,
    measure_conformance,
    profile_parquet,
    quote,
    sample_top_values,
)

DIVISION_HINT = re.compile(r"区划|division|adcode|行政区", re.I)
AMOUNT_HINT = re.compile(r"金额|费用|价格|amount|price|fee", re.I)
ProgressFn = Callable[[float, str], None]


@dataclass
class PipelineResult:
    parquet_path: Path
    files: list[IngestedFile]
    stats: DatasetStats
    findings: list[pii.Finding]
    measurements: dict[str, Any]
    source_names: list[str]
    suggested_personal_info: str
    suggested_classification: str


def run_pipeline(sources: list[SourceFile], work: Path, progress: ProgressFn | None = None,
                 memory_limit: str = "1GB", threads: int = 2, limits: Limits | None = None,
                 on_connect: Callable[[Any], None] | None = None) -> PipelineResult:
    """``limits`` (the settings', core/analytics.py) win over ``memory_limit`` and ``threads``;
    ``on_connect`` is given the DuckDB connection (to interrupt it from another thread)."""
    def report(fraction: float, stage: str) -> None:
        if progress:
            progress(fraction, stage)

    limits = limits or Limits(memory_limit, threads)
    # DuckDB may read the uploaded files and the work folder, nothing else.
    con = ingest.connect(work, memory_limit=limits.memory_limit, threads=limits.threads,
                         readable=[s.path for s in sources], query_seconds=limits.query_seconds)
    if on_connect:
        on_connect(con)
    try:
        report(0.05, "normalise")
        result = ingest.normalise(con, sources, work, lambda f, _n: report(0.05 + 0.4 * f, "normalise"))
        report(0.45, "profile")
        stats = profile_parquet(con, result.parquet_path, lambda f: report(0.45 + 0.35 * f, "profile"))
        report(0.8, "scan")
        sampled = create_sample(con, result.parquet_path, stats)
        measure_conformance(con, stats.columns)
        sample_top_values(con, stats.columns, sampled, stats.row_count)
        findings = pii.scan(con, stats.columns)
        coded = {f.column for f in findings if f.kind in pii.CHECKED or f.kind in ("mobile", "passport")}
        for col in stats.columns:
            if col.name in coded and col.inferred_type.startswith("text"):
                # identifiers are text by nature (an X check character is not a stray value)
                col.inferred_type, col.type_conformance = "text", 1.0
        report(0.95, "quality")
        measurements = measure(con, stats, findings, sampled, result.renamed_headers)
    finally:
        con.close()
    personal = pii.suggest_personal_info(findings)
    return PipelineResult(result.parquet_path, result.files, stats, findings, measurements,
                          result.source_names, personal, pii.suggest_classification(personal, stats.row_count))


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return None


def measure(con: Any, stats: DatasetStats, findings: list[pii.Finding], sampled: int,
            renamed_headers: int) -> dict[str, Any]:
    total_cells = stats.row_count * len(stats.columns)
    null_cells = sum(c.null_count for c in stats.columns)
    worst = sorted(((c.name, c.null_rate) for c in stats.columns if c.null_rate > 0), key=lambda x: -x[1])[:5]
    conformance = (sum(c.type_conformance for c in stats.columns) / len(stats.columns)) if stats.columns else 1.0
    codes: dict[str, dict[str, int]] = {}
    for f in findings:
        # only columns that really hold that kind: a few valid-looking numbers among order IDs do not count
        if f.kind in pii.CHECKED and f.candidates and f.matched >= f.candidates / 2:
            entry = codes.setdefault(f.kind, {"checked": 0, "invalid": 0})
            entry["checked"] += f.candidates
            entry["invalid"] += max(0, f.candidates - f.matched)
    codes.update(_division_codes(con, stats))
    temporal = [c for c in stats.columns if c.inferred_type in TEMPORAL]
    # birth dates are not when the data was collected: they count for neither coverage nor freshness
    birth = pii.birth_date_columns(con, [c.name for c in temporal],
                                   sorted({f.column for f in findings if f.kind == "resident_id"})) if sampled else \
        [c.name for c in temporal if pii.is_birth_date(c.name)]
    dates = [(c.raw_min, c.raw_max) for c in temporal if c.name not in birth]
    lows = [d for d in (_iso(lo) for lo, _hi in dates) if d]
    highs = [d for d in (_iso(hi) for _lo, hi in dates) if d]
    earliest, latest = min(lows, default=None), max(highs, default=None)
    return {
        "row_count": stats.row_count, "column_count": len(stats.columns), "total_cells": total_cells,
        "null_cells": null_cells, "worst_null_columns": worst, "duplicate_rows": stats.duplicate_rows,
        "renamed_headers": renamed_headers, "type_conformance": round(conformance, 6), "codes": codes,
        "out_of_range": _out_of_range(con, stats) if sampled else 0, "sampled_rows": sampled,
        "earliest_date": earliest, "latest_date": latest, "birth_date_columns": birth,
    }


def _division_codes(con: Any, stats: DatasetStats) -> dict[str, dict[str, int]]:
    checked = invalid = 0
    for col in stats.columns:
        if not DIVISION_HINT.search(col.name):
            continue
        rows = con.execute(f"SELECT {quote(col.name)}::VARCHAR AS v, count(*) FROM registry_sample "  # noqa: S608
                       f"WHERE {quote(col.name)} IS NOT NULL GROUP BY v LIMIT 5000").fetchall()
        for value, count in rows:
            checked += int(count)
            invalid += 0 if is_valid_division_code(str(value)) else int(count)
    return {"division_code": {"checked": checked, "invalid": invalid}} if checked else {}


def _out_of_range(con: Any, stats: DatasetStats) -> int:
    exprs = []
    for col in stats.columns[:2000]:
        q = quote(col.name)
        if col.inferred_type == "date":
            exprs.append(f"count(*) FILTER (WHERE {q} > current_date + 1 OR {q} < DATE '1900-01-01')")
        elif col.inferred_type == "timestamp":
            exprs.append(f"count(*) FILTER (WHERE {q}::DATE > current_date + 1 OR {q} < DATE '1900-01-01')")
        elif col.inferred_type in ("integer", "decimal") and AMOUNT_HINT.search(col.name):
            exprs.append(f"count(*) FILTER (WHERE {q} < 0)")
    if not exprs:
        return 0
    row = con.execute(f"SELECT {' + '.join(exprs)} FROM registry_sample").fetchone()  # noqa: S608
    return int(row[0] or 0) if row else 0


__all__ = ["PipelineResult", "SourceFile", "literal", "run_pipeline"]
