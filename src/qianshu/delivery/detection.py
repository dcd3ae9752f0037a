"""Finding whose watermark a suspect copy carries.

1. **Align rows.** Each of the plan's identifying columns is matched by content to a column of
   the suspect file (the share of the file's values found in the original column): names and
   order do not matter. The rows whose identity fingerprint is one of the original's are
   aligned with their original row; rows from elsewhere and repeated identities drop out.
2. **Match the marked columns** by agreement with the original on the aligned rows.
3. **Read the evidence**, once, without any key: a numeric cell that lies above the original
   (rounded to the file's own precision, so a copy rounded one digit coarser still counts)
   says bit 1, below says bit 0; a text cell in one of the two marked forms says its bit;
   anything else says nothing.
4. **Score every candidate.** For a candidate key, the cells its hash selects that carry
   evidence are its ``marks`` (n) and those whose bit equals the key's bit its ``matches`` (m).
   For a copy that key did not mark, each selected bit is an independent fair coin of the key,
   so m ~ Binomial(n, 1/2): the p-value is P(X ≥ m). Over K candidates, Bonferroni: a candidate
   is named when K·p ≤ α. The chance that any candidate that did not leak is named is then at
   most α; ``false_positive_bound`` is its exact value for the counts seen (the sum of the
   binomial tails at each candidate's critical count), never more than α.

A product whose copies were delivered under several plan rules (``watermark.PLAN_RULES``) is
scored under each plan: the Bonferroni count is then candidates × plans, so the bound still holds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from qianshu.delivery.files import read_suspect
from qianshu.delivery.watermark import (
    PLAN_SAMPLE_ROWS,
    WatermarkKey,
    WatermarkPlan,
    canonical_text,
    decimals_of,
    fingerprint_strings,
    keyed_hash,
    selection,
    text_fingerprints,
    text_forms,
)

MATCH_SAMPLE = 50_000
COLUMN_SAMPLE = 5_000
IDENTITY_MIN_SHARE = 0.05
COLUMN_MIN_AGREEMENT = 0.5
NUMBER = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"


@dataclass(frozen=True)
class CandidateScore:
    key_id: str
    label: str
    marks: int  # selected cells that carry evidence (n)
    matches: int  # of them, those with this key's bit (m)
    log10_p: float  # log10 P(Binomial(n, 1/2) >= m)
    log10_adjusted: float  # Bonferroni over the candidates, at most 0
    critical: int  # the fewest matches that would name this candidate at this n

    @property
    def p_value(self) -> float:
        return float(10.0 ** self.log10_p)

    @property
    def adjusted_p(self) -> float:
        return float(10.0 ** self.log10_adjusted)

    @property
    def confidence(self) -> float:
        return 1.0 - self.adjusted_p


@dataclass(frozen=True)
class Detection:
    rows_in_file: int
    rows_aligned: int
    columns: dict[str, int] = field(default_factory=dict)  # original column → suspect column position
    candidates: tuple[CandidateScore, ...] = ()
    alpha: float = 1e-6
    false_positive_bound: float = 0.0
    named: CandidateScore | None = None


# ---------------------------------------------------------------- statistics

@lru_cache(maxsize=256)
def _log_tails(n: int) -> np.ndarray:
    """ln P(Binomial(n, 1/2) >= m) for m = 0..n+1."""
    k = np.arange(1, n + 1, dtype=np.float64)
    log_choose = np.concatenate([[0.0], np.cumsum(np.log(n - k + 1) - np.log(k))])
    terms = log_choose - n * math.log(2.0)
    tails = np.logaddexp.accumulate(terms[::-1])[::-1]
    return np.concatenate([tails, [-np.inf]])


def log10_tail(n: int, m: int) -> float:
    """log10 of P(Binomial(n, 1/2) >= m), exact (no normal approximation)."""
    if m <= 0:
        return 0.0
    if m > n:
        return -math.inf
    return float(min(0.0, _log_tails(n)[m]) / math.log(10.0))


def critical_count(n: int, level: float) -> int:
    """The fewest matches m with P(X >= m) <= level (n + 1 when even n matches are not enough)."""
    tails = _log_tails(n)
    below = np.flatnonzero(tails <= math.log(level))
    return int(below[0]) if below.size else n + 1


def score(key: WatermarkKey, n: int, m: int, candidates: int, alpha: float) -> CandidateScore:
    log10_p = log10_tail(n, m)
    adjusted = min(0.0, log10_p + math.log10(candidates))
    return CandidateScore(key.key_id, key.label, n, m, log10_p, adjusted, critical_count(n, alpha / candidates))


# ---------------------------------------------------------------- alignment

def _floats(values: pa.Array) -> np.ndarray:
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        return np.asarray(pc.fill_null(values.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False))
    text = pc.utf8_normalize(pc.fill_null(values.cast(pa.string()), ""), "NFKC")
    numeric = pc.match_substring_regex(text, NUMBER)
    cleaned = pc.if_else(numeric, pc.utf8_trim_whitespace(text), pa.scalar(None, pa.string()))
    return np.asarray(pc.fill_null(cleaned.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False))


# NumPy's unique and isin on 64-bit hashes took seconds where sorting takes milliseconds.
def _sorted_unique(values: np.ndarray) -> np.ndarray:
    ordered = np.sort(values)
    keep = np.ones(len(ordered), dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep]


def _contained(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Which ``values`` are in ``reference`` (sorted)."""
    if not len(reference):
        return np.zeros(len(values), dtype=bool)
    spot = np.clip(np.searchsorted(reference, values), 0, len(reference) - 1)
    found: np.ndarray = reference[spot] == values
    return found


def _first_of_each(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values, sorted, and the position of each one's first occurrence."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    keep = np.ones(len(ordered), dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep], order[keep]


def _share_in(sample: np.ndarray, nonempty: np.ndarray, reference: np.ndarray) -> float:
    if not nonempty.any():
        return 0.0
    return float(_contained(sample[nonempty], reference).mean())


def _map_identity(suspect: pa.Table, original_texts: list[pa.Array]) -> list[int] | None:
    """For each identifying column, the suspect column holding the same values; None when one has none."""
    head = suspect.slice(0, MATCH_SAMPLE)
    suspect_prints = []
    for column in head.columns:
        text = canonical_text(column)
        suspect_prints.append((fingerprint_strings(text), np.asarray(pc.utf8_length(text).to_numpy()) > 0))
    chosen: list[int] = []
    for texts in original_texts:
        reference = _sorted_unique(fingerprint_strings(texts))
        shares = [(-1.0 if i in chosen else _share_in(prints, nonempty, reference), i)
                  for i, (prints, nonempty) in enumerate(suspect_prints)]
        best, position = max(shares, default=(0.0, -1))
        if best < IDENTITY_MIN_SHARE:
            return None
        chosen.append(position)
    return chosen


def _agreement(mark_kind: str, suspect: pa.Array, original: pa.Array, step: float, decimals: int) -> float:
    if mark_kind == "numeric":
        s, o = _floats(suspect), _floats(original)
        valid = np.isfinite(s) & np.isfinite(o)
        if not valid.any():
            return 0.0
        close = np.abs(s[valid] - o[valid]) <= step + 10.0 ** (1 - decimals) + 1e-9
        return float(close.sum() / max(1, len(s)))
    equal = pc.equal(canonical_text(suspect), canonical_text(original))
    return float(pc.mean(pc.cast(equal, pa.float64())).as_py() or 0.0)


def _evidence(kind: str, suspect: pa.Array, original: pa.Array, step: float, decimals: int) -> np.ndarray:
    """Per aligned cell: 1 or 0 for the bit it shows, -1 for none."""
    if kind == "numeric":
        s, o = _floats(suspect), _floats(original)
        valid = np.isfinite(s) & np.isfinite(o)
        precision = min(decimals, decimals_of(s[valid], lowest=-3)) if valid.any() else decimals
        unit = 10.0 ** -precision
        deviation = np.where(valid, s - np.round(o, precision), 0.0)
        size = np.abs(deviation)
        shows = valid & (size > unit / 2) & (size <= step + unit * 1.01)
        return np.where(shows, (deviation > 0).astype(np.int8), np.int8(-1)).astype(np.int8)
    text = pc.fill_null(suspect.cast(pa.string()), "")
    base = pc.fill_null(original.cast(pa.string()), "")
    zero, one = text_forms(base)
    changed = pc.not_equal(text, base)
    is_one = pc.and_(changed, pc.equal(text, one)).to_numpy(zero_copy_only=False)
    is_zero = pc.and_(changed, pc.equal(text, zero)).to_numpy(zero_copy_only=False)
    return np.where(is_one, np.int8(1), np.where(is_zero, np.int8(0), np.int8(-1))).astype(np.int8)


def detect_table(suspect: pa.Table, original_path: Path, plans: WatermarkPlan | Sequence[WatermarkPlan],
                 candidates: Sequence[WatermarkKey], alpha: float = 1e-6) -> Detection:
    """Score every candidate key against a suspect table of text columns under each plan (see the
    module's doc); the detection that names a candidate most surely, else the first plan's."""
    plans = [plans] if isinstance(plans, WatermarkPlan) else list(plans)
    found = [_detect_with(suspect, original_path, plan, candidates, alpha, len(plans)) for plan in plans]
    named = [d for d in found if d.named is not None]
    best = min(named, key=lambda d: d.named.log10_p if d.named else 0.0) if named else found[0]
    return replace(best, false_positive_bound=min(alpha, sum(d.false_positive_bound for d in found)))


def _detect_with(suspect: pa.Table, original_path: Path, plan: WatermarkPlan, candidates: Sequence[WatermarkKey],
                 alpha: float, plans: int) -> Detection:
    candidates = list(candidates)
    rows = suspect.num_rows
    original_identity = pq.read_table(original_path, columns=list(plan.identity))
    original_texts = [canonical_text(original_identity.column(n)) for n in plan.identity]
    mapping = _map_identity(suspect, original_texts) if rows and suspect.num_columns else None
    if mapping is None or not candidates:
        return Detection(rows, 0, alpha=alpha)
    suspect_texts = [canonical_text(suspect.column(i)) for i in mapping]
    original_prints = text_fingerprints(original_texts)
    suspect_prints = text_fingerprints(suspect_texts)
    order = np.argsort(original_prints, kind="stable")
    sorted_prints = original_prints[order]
    unique_prints, first = _first_of_each(suspect_prints)
    spot = np.clip(np.searchsorted(sorted_prints, unique_prints), 0, max(0, len(sorted_prints) - 1))
    found = sorted_prints[spot] == unique_prints if len(sorted_prints) else np.zeros(0, dtype=bool)
    suspect_rows = first[found]
    original_rows = order[spot[found]]
    aligned_prints = unique_prints[found]
    if not len(suspect_rows) or not plan.columns:
        return Detection(rows, len(suspect_rows), alpha=alpha)

    originals = pq.read_table(original_path, columns=[c.name for c in plan.columns]).take(pa.array(original_rows))
    aligned = suspect.take(pa.array(suspect_rows))
    free = [i for i in range(suspect.num_columns) if i not in mapping]
    pairs = []
    head = min(COLUMN_SAMPLE, len(suspect_rows))
    for mark in plan.columns:
        o = originals.column(mark.name).combine_chunks()
        for i in free:
            s = aligned.column(i).combine_chunks()
            share = _agreement(mark.kind, s.slice(0, head), o.slice(0, head), mark.step, mark.decimals)
            if share >= COLUMN_MIN_AGREEMENT:
                pairs.append((share, mark.name, i))
    columns: dict[str, int] = {}
    for _share, name, i in sorted(pairs, key=lambda p: -p[0]):
        if name not in columns and i not in columns.values():
            columns[name] = i

    evidence = []
    for mark in plan.columns:
        if mark.name not in columns:
            continue
        shows = _evidence(mark.kind, aligned.column(columns[mark.name]).combine_chunks(),
                          originals.column(mark.name).combine_chunks(), mark.step, mark.decimals)
        cells = np.flatnonzero(shows >= 0)
        evidence.append((mark.salt, aligned_prints[cells], shows[cells].astype(bool)))

    scores = []
    for key in candidates:
        n = m = 0
        for salt, cell_prints, bits in evidence:
            chosen, expected = selection(keyed_hash(cell_prints, key, salt), plan.gamma)
            n += int(chosen.sum())
            m += int((chosen & (expected == bits)).sum())
        scores.append(score(key, n, m, len(candidates) * plans, alpha))
    # The exact chance, given these counts, that some candidate reaches its critical count by luck.
    bound = min(alpha, sum(10.0 ** log10_tail(s.marks, s.critical) for s in scores))
    named = min((s for s in scores if s.matches >= s.critical), key=lambda s: s.log10_p, default=None)
    ranked = tuple(sorted(scores, key=lambda s: s.log10_p))
    return Detection(rows, len(suspect_rows), columns, ranked, alpha, bound, named)


def detect_file(path: Path, original_path: Path, plans: WatermarkPlan | Sequence[WatermarkPlan],
                candidates: Sequence[WatermarkKey], alpha: float = 1e-6) -> Detection:
    return detect_table(read_suspect(path), original_path, plans, candidates, alpha)


__all__ = ["PLAN_SAMPLE_ROWS", "CandidateScore", "Detection", "critical_count", "detect_file", "detect_table",
           "log10_tail"]
