"""Reading and checking a department's feed file (monitoring/feeds.py stores it).

``read_feed_file`` turns CSV (UTF-8 or GB18030), XLSX or Parquet into a table of strings;
``check_rows`` checks every row against ``COLUMNS`` and gives the good rows in their stored types
and the rejected ones with a reason (``REASONS``); ``rejects_csv`` lists those for download.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from qianshu.core.errors import InvalidInput
from qianshu.core.i18n import N_
from qianshu.core.identifiers import ID_CHECK, ID_WEIGHTS, guizhou_divisions
from qianshu.core.policy import division_prefix

FORMATS = ("csv", "xlsx", "parquet")
ENCODINGS = ("auto", "utf-8", "gb18030")

# Column kinds: how a column is checked and what it becomes.
#   resident_id, household_id (17 digits), village (a 12-digit division code), date, year_date (a
#   date in the feed's year), fen (a whole number ≥ 0), small (a whole number), bool, text,
#   or a tuple of the values allowed.
Kind = str | tuple[str, ...]
COLUMNS: dict[str, dict[str, Kind]] = {
    "household_registration": {"resident_id": "resident_id", "name": "text", "sex": ("1", "2"),
                               "birth_date": "date", "household_id": "household_id",
                               "relation": ("head", "spouse", "child", "parent", "other"),
                               "division_code": "village", "hukou_type": ("rural", "urban")},
    "civil_affairs": {"household_id": "household_id", "head_resident_id": "resident_id",
                      "assistance": ("minimum_living_allowance", "special_hardship"),
                      "monthly_amount_fen": "fen", "start_date": "date"},
    "human_resources": {"resident_id": "resident_id",
                        "status": ("employed", "unemployed", "retired", "student", "not_in_labour_force"),
                        "monthly_wage_fen": "fen", "monthly_pension_fen": "fen", "as_of": "year_date"},
    "education": {"resident_id": "resident_id", "school_stage": ("primary", "junior", "senior"),
                  "status": ("enrolled", "dropped_out"), "aid_fen": "fen", "term": "text"},
    "medical_insurance": {"resident_id": "resident_id", "claim_date": "year_date", "total_cost_fen": "fen",
                          "reimbursed_fen": "fen", "out_of_pocket_fen": "fen"},
    "health": {"resident_id": "resident_id", "disease_category": "text", "diagnosed_on": "date"},
    "housing": {"household_id": "household_id", "grade": ("A", "B", "C", "D"), "assessed_on": "date"},
    "water": {"household_id": "household_id", "drinking_water_safe": "bool", "assessed_on": "date"},
    "disabled_persons": {"resident_id": "resident_id", "disability_kind": "text", "grade": ("1", "2", "3", "4"),
                         "certified_on": "date"},
    "agriculture_households": {"household_id": "household_id", "lifted_out_of_poverty": "bool",
                               "lifted_year": "small", "annual_income_per_capita_fen": "fen"},
    "agriculture_income": {"household_id": "household_id", "month": "year_date", "per_capita_income_fen": "fen"},
    "emergency": {"household_id": "household_id", "event_date": "year_date", "disaster_kind": "text",
                  "loss_fen": "fen"},
}
# What makes a record unique in its feed (a second row with the same key is a duplicate).
KEYS: dict[str, tuple[str, ...]] = {
    "household_registration": ("resident_id",), "civil_affairs": ("household_id", "assistance"),
    "human_resources": ("resident_id",), "education": ("resident_id", "term"),
    "medical_insurance": ("resident_id", "claim_date", "total_cost_fen"), "health": ("resident_id", "disease_category"),
    "housing": ("household_id",), "water": ("household_id",), "disabled_persons": ("resident_id",),
    "agriculture_households": ("household_id",), "agriculture_income": ("household_id", "month"),
    "emergency": ("household_id", "event_date", "disaster_kind"),
}
_TYPES: dict[str, pa.DataType] = {"date": pa.date32(), "year_date": pa.date32(), "fen": pa.int64(),
                                  "small": pa.int64(), "bool": pa.bool_()}
# Stored types where the rules expect narrower ones than int64 (as population.py writes them).
_NARROW = {("disabled_persons", "grade"): pa.int8(), ("agriculture_households", "lifted_year"): pa.int16()}
# Why a row is refused: code → English message (zh in locale/); the rejects CSV gives both.
REASONS = {
    "missing": N_("{column}: the value is missing"),
    "resident_id": N_("{column}: not a valid resident ID (GB 11643 check character)"),
    "household_id": N_("{column}: not a household number of 17 digits within the feed's division"),
    "division": N_("{column}: not a village code of 12 digits within the feed's division"),
    "date": N_("{column}: not a date (YYYY-MM-DD)"),
    "year": N_("{column}: the date is not in the feed's year"),
    "number": N_("{column}: not a whole number of at least 0"),
    "bool": N_("{column}: not true or false"),
    "value": N_("{column}: not one of the allowed values"),
    "birth_date": N_("{column}: the birth date does not match the resident ID"),
    "duplicate": N_("{column}: a second record with the same key"),
}


@dataclass(frozen=True)
class Rejected:
    row: int  # 1-based data row of the source (the header is row 0)
    reason: str  # a REASONS code
    column: str


# --- reading ------------------------------------------------------------------------------------

def bad_file(message: str, name: str, field: str = "file", **params: Any) -> InvalidInput:
    return InvalidInput(message, field=field, code="invalid_feed", file=name, **params)


def detect_format(head: bytes, name: str) -> str:
    lower = name.lower()
    if head[:4] == b"PAR1" or lower.endswith(".parquet"):
        return "parquet"
    if head[:4] == b"PK\x03\x04" or lower.endswith(".xlsx"):
        return "xlsx"
    if lower.endswith(".xls"):
        raise bad_file("{file}: old Excel files (.xls) are not read; save the sheet as XLSX or CSV.", name)
    return "csv"


def _decode(raw: bytes, name: str, encoding: str) -> tuple[str, str]:
    """The text of a CSV and the encoding it was in (``auto``: UTF-8, else GB18030)."""
    if raw.startswith(codecs.BOM_UTF8):
        raw, encoding = raw[3:], "utf-8" if encoding == "auto" else encoding
    tried = ("utf-8", "gb18030") if encoding == "auto" else (encoding,)
    for candidate in tried:
        try:
            return raw.decode(candidate), candidate
        except UnicodeDecodeError:
            continue
    if encoding == "utf-8":
        try:
            raw.decode("gb18030")
        except UnicodeDecodeError:
            pass
        else:
            raise bad_file("{file}: the file is not UTF-8 but GB18030 (GBK); upload it with the encoding GB18030 "
                           "or let it be detected.", name, field="encoding")
    raise bad_file("{file}: the text encoding is neither UTF-8 nor GB18030 (GBK); it may be a binary file.", name,
                   field="encoding")


def _strings(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> pa.Table:
    width = len(columns)
    data: list[list[str | None]] = [[] for _ in columns]
    for row in rows:
        for i in range(width):
            value = row[i] if i < len(row) else None
            if isinstance(value, date):
                value = value.isoformat()[:10]
            data[i].append(None if value is None or str(value).strip() == "" else str(value).strip())
    return pa.table({c: pa.array(d, pa.string()) for c, d in zip(columns, data, strict=True)})


def _header(raw: Sequence[Any]) -> list[str]:
    return [str(v or "").strip().lstrip("\ufeff").lower() for v in raw]


def read_feed_file(path: Path, name: str, encoding: str = "auto") -> tuple[pa.Table, str, str]:
    """The file as a table of strings (``None`` for empty cells), its format and its encoding."""
    if encoding not in ENCODINGS:
        raise InvalidInput("{field}: must be auto, utf-8 or gb18030", field="encoding")
    with path.open("rb") as fh:
        head = fh.read(8)
    if not head:
        raise bad_file("{file}: the file is empty.", name)
    fmt = detect_format(head, name)
    if fmt == "parquet":
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            # the exception's text names our temporary path: not shown
            raise bad_file("{file}: the Parquet file is damaged or truncated.", name) from exc
        table = table.rename_columns(_header(table.column_names))
        out = {}
        for column in table.column_names:
            values = table[column]
            if pa.types.is_date(values.type) or pa.types.is_timestamp(values.type):
                values = pc.strftime(values, format="%Y-%m-%d")
            out[column] = pc.cast(values, pa.string())
        return pa.table(out), fmt, ""
    if fmt == "xlsx":
        return _read_xlsx(path, name), fmt, ""
    text, used = _decode(path.read_bytes(), name, encoding)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = _header(next(reader, []))
        rows = list(reader)
    except csv.Error as exc:
        raise bad_file("{file}: the CSV cannot be read ({detail}).", name, detail=str(exc)[:200]) from None
    return _strings(header, rows), fmt, used


def _read_xlsx(path: Path, name: str) -> pa.Table:
    import zipfile

    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(path) as archive:
            expanded = sum(i.file_size for i in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        raise bad_file("{file}: the XLSX workbook is damaged (not a valid zip archive).", name) from None
    if expanded > 100 * path.stat().st_size + 50 * 2**20:
        raise bad_file("{file}: the workbook expands to far more than its size (a zip bomb); refused.", name)
    try:
        book = load_workbook(path, read_only=True, data_only=True)
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = _header(next(rows, ()))
        data = [row for row in rows if any(v is not None for v in row)]
        book.close()
    except Exception as exc:
        raise bad_file("{file}: the XLSX workbook is damaged.", name) from exc
    return _strings(header, data)


# --- checking -----------------------------------------------------------------------------------

def _resident_ids_ok(values: pa.Array) -> np.ndarray:
    """GB 11643: 17 digits and the ISO 7064 MOD 11-2 check character, on the strings' bytes."""
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=bool)
    upper = pc.utf8_upper(values.fill_null(""))
    ok = np.asarray(pc.equal(pc.binary_length(upper), 18))
    # Every value 18 bytes long (the others replaced), so that the data buffer is an n × 18 matrix.
    fixed = pc.if_else(pa.array(ok), upper, pa.scalar("0" * 18))
    offsets = np.frombuffer(fixed.buffers()[1], dtype=np.int32)[fixed.offset:fixed.offset + n + 1]
    data = np.frombuffer(fixed.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]].reshape(n, 18)
    digits = data[:, :17].astype(np.int64) - ord("0")
    ok &= ((digits >= 0) & (digits <= 9)).all(axis=1)
    alphabet = np.frombuffer(ID_CHECK.encode("ascii"), dtype=np.uint8)
    ok &= data[:, 17] == alphabet[(np.clip(digits, 0, 9) @ np.asarray(ID_WEIGHTS, dtype=np.int64)) % 11]
    return np.asarray(ok, dtype=bool)


def _within(values: pa.Array, length: int, division: str) -> np.ndarray:
    counties = pa.array(sorted(c for c in guizhou_divisions() if not c.endswith("00")))
    prefix = division_prefix(division) or division
    good = pc.and_(pc.equal(pc.utf8_length(values), length), pc.match_substring_regex(values, f"^{prefix}[0-9]*$"))
    good = pc.and_(good, pc.is_in(pc.utf8_slice_codeunits(values, 0, 6), value_set=counties))
    return np.asarray(good.fill_null(False))


def parse_dates(values: pa.Array) -> pa.Array:
    normal = pc.replace_substring(values, "/", "-")
    cleaned = pc.if_else(pc.match_substring_regex(normal, r"^\d{4}-\d{2}-\d{2}$"), normal, pa.scalar(None, pa.string()))
    try:
        parsed = pc.strptime(cleaned, format="%Y-%m-%d", unit="s", error_is_null=True)
    except pa.ArrowInvalid:  # pragma: no cover - error_is_null makes strptime total
        parsed = pa.nulls(len(values), pa.timestamp("s"))
    return pc.cast(parsed, pa.date32())


def _stored_type(feed: str, column: str, kind: Kind) -> pa.DataType:
    narrow = _NARROW.get((feed, column))
    if narrow is not None:
        return narrow
    return _TYPES.get(kind, pa.string()) if isinstance(kind, str) else pa.string()


_TRUE = ("true", "1", "是", "t", "yes", "y")
_FALSE = ("false", "0", "否", "f", "no", "n")


def check_rows(table: pa.Table, feed: str, year: int, division: str) -> tuple[pa.Table, list[Rejected], int]:
    """The good rows (in the feed's stored types), the rejected ones, and how many dated rows lay
    outside the year. Raises for missing columns."""
    columns = COLUMNS[feed]
    n = table.num_rows
    bad = np.zeros(n, dtype=bool)
    rejected: list[Rejected] = []
    out: dict[str, pa.Array] = {}
    out_of_year = 0

    def refuse(mask: np.ndarray, reason: str, column: str) -> None:
        new = mask & ~bad
        rejected.extend(Rejected(int(i) + 1, reason, column) for i in np.flatnonzero(new))
        bad[new] = True

    for column, kind in columns.items():
        values = table[column].combine_chunks() if table[column].num_chunks else pa.array([], pa.string())
        values = pc.utf8_trim_whitespace(values)
        missing = np.asarray(pc.is_null(values))
        refuse(missing, "missing", column)
        present = ~missing
        if isinstance(kind, tuple):
            refuse(present & ~np.asarray(pc.is_in(values, value_set=pa.array(kind)).fill_null(False)), "value", column)
            out[column] = values
        elif kind == "resident_id":
            refuse(present & ~_resident_ids_ok(values), "resident_id", column)
            out[column] = pc.utf8_upper(values)
        elif kind == "household_id":
            refuse(present & ~_within(values, 17, division), "household_id", column)
            out[column] = values
        elif kind == "village":
            refuse(present & ~_within(values, 12, division), "division", column)
            out[column] = values
        elif kind in ("date", "year_date"):
            dates = parse_dates(values)
            unparsed = present & np.asarray(pc.is_null(dates))
            refuse(unparsed, "date", column)
            if kind == "year_date":
                other = present & ~unparsed & np.asarray(pc.not_equal(pc.year(dates), year).fill_null(False))
                out_of_year += int(other.sum())
                refuse(other, "year", column)
            out[column] = dates
        elif kind in ("fen", "small"):
            numeric = pc.match_substring_regex(values, r"^\d{1,15}(\.0+)?$" if kind == "fen" else r"^-?\d{1,6}$")
            refuse(present & ~np.asarray(numeric.fill_null(False)), "number", column)
            whole = pc.if_else(numeric, pc.replace_substring_regex(values, r"\.0+$", ""), pa.scalar(None, pa.string()))
            out[column] = pc.cast(whole, pa.int64())
        elif kind == "bool":
            lower = pc.utf8_lower(values)
            yes, no = pc.is_in(lower, value_set=pa.array(_TRUE)), pc.is_in(lower, value_set=pa.array(_FALSE))
            refuse(present & ~np.asarray(pc.or_(yes, no).fill_null(False)), "bool", column)
            out[column] = pc.if_else(yes, True, pc.if_else(no, False, pa.scalar(None, pa.bool_())))
        else:
            out[column] = values
    if feed == "household_registration":
        born = pc.strftime(out["birth_date"], format="%Y%m%d")
        from_id = pc.utf8_slice_codeunits(out["resident_id"], 6, 14)
        refuse(~bad & ~np.asarray(pc.equal(born, from_id).fill_null(False)), "birth_date", "birth_date")
    # Duplicates: a second row of a key (among the rows still good).
    key = KEYS[feed]
    keyed = pa.table({"k": pc.binary_join_element_wise(*[pc.cast(out[c], pa.string()) for c in key], "\x1f"),
                      "i": pa.array(np.arange(n))}).filter(pa.array(~bad))
    first = keyed.group_by("k").aggregate([("i", "min")])
    seen = np.zeros(n, dtype=bool)
    seen[np.asarray(first["i_min"])] = True
    refuse(~bad & ~seen, "duplicate", key[0])
    good = pa.table({c: pc.cast(out[c], _stored_type(feed, c, k)) for c, k in columns.items()}).filter(pa.array(~bad))
    rejected.sort(key=lambda r: r.row)
    return good, rejected, out_of_year


def rejects_csv(table: pa.Table, rejected: Sequence[Rejected], translate: Callable[[str, str, str], str]) -> bytes:
    """The rejected rows as CSV (UTF-8 with a BOM, so that Excel opens it): the source row, the
    reason's code, the reason in Chinese and in English, then the row's own values."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["row", "reason", "原因", "reason_en", *table.column_names])
    rows = table.take(pa.array([r.row - 1 for r in rejected], pa.int64())).to_pylist() if rejected else []
    for item, values in zip(rejected, rows, strict=True):
        writer.writerow([item.row, item.reason, translate(item.reason, item.column, "zh"),
                         translate(item.reason, item.column, "en"), *(_inert(v) for v in values.values())])
    return codecs.BOM_UTF8 + buffer.getvalue().encode("utf-8")


_FORMULA = re.compile(r"^[=+\-@\t\r]")
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def _inert(value: Any) -> Any:
    """A sent cell as text a spreadsheet will not run: a leading =, +, -, @ (a formula) gets a quote."""
    if isinstance(value, str) and _FORMULA.match(value) and not _NUMBER.match(value):
        return "'" + value
    return value


def reason_text(reason: str, column: str, lang: str) -> str:
    from qianshu.core.i18n import translate

    return translate(REASONS[reason], lang, column=column)
