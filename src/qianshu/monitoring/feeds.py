"""Departments' feeds: a file per feed, year and division (a county, or the province), validated
and kept as a new version.

A feed arrives as CSV (UTF-8 or GB18030/GBK, detected or declared), XLSX or Parquet. Every row is
checked (``COLUMNS``: resident IDs' check characters (GB 11643), household IDs and division codes
inside the upload's division, dates, the feed's year, numbers, the values a field may take, a
resident's birth date against their ID); the good rows are kept as Parquet in the blob store, the
others listed with their reasons in a CSV that can be downloaded. A file that cannot be read at
all (damaged, truncated, of another year, missing columns) is refused with a bilingual error and
nothing is kept. Duplicate keys within the file, and records that do not agree with the other
departments' current feeds (a resident the household registration does not know, a household
head registered in another household, a resident registered in two counties) are reported in the
version's ``findings``.

Validation is column-wise with Arrow (no Python loop per row except for the rejected ones), so a
county's household registration of a million rows takes about 20 s on a small machine.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qianshu.core import audit
from qianshu.core.actor import Actor
from qianshu.core.blobs import BlobStore
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.i18n import N_
from qianshu.core.identifiers import ID_CHECK, ID_WEIGHTS, guizhou_divisions, validate_division_code
from qianshu.core.policy import Resource, division_prefix, require, within
from qianshu.monitoring.models import FeedVersion
from qianshu.monitoring.population import DEPARTMENTS, FEEDS

PROVINCE = "520000"
FORMATS = ("csv", "xlsx", "parquet")
ENCODINGS = ("auto", "utf-8", "gb18030")
VERSION_ATTEMPTS = 5
MAX_EXAMPLES = 20  # findings keep this many examples of each kind
# More than this share of a feed's dated rows outside its year: the file is of another year.
WRONG_YEAR_SHARE = 0.5

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


def _dates(values: pa.Array) -> pa.Array:
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
            dates = _dates(values)
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


def _reason_text(reason: str, column: str, lang: str) -> str:
    from qianshu.core.i18n import translate

    return translate(REASONS[reason], lang, column=column)


# --- storing ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Upload:
    feed: str
    year: int
    division: str
    name: str
    encoding: str = "auto"


def upload_resource(division: str) -> Resource:
    return Resource(division=division)


def _validate_target(upload: Upload) -> str:
    if upload.feed not in FEEDS:
        raise InvalidInput("{field}: not a known feed", field="feed")
    if not 2000 <= upload.year <= 2100:
        raise InvalidInput("{field}: not a plausible year", field="year")
    division = validate_division_code(upload.division, "division")
    if division != PROVINCE and (not division.startswith("52") or division.endswith("00")):
        raise InvalidInput("{field}: a feed is for a county of Guizhou or for the province (520000)", field="division")
    return division


def _store_bytes(blobs: BlobStore, data: bytes) -> str:
    digest, _ = blobs.put_stream([data])
    return digest


def store_feed(db: Session, actor: Actor, blobs: BlobStore, source: Path, upload: Upload) -> FeedVersion:
    """Validate the file and keep its good rows as the next version of the feed (all or nothing:
    a file that cannot be read leaves nothing behind)."""
    division = _validate_target(upload)
    require(actor, "monitoring.feeds.upload", upload_resource(division))
    raw, fmt, encoding = read_feed_file(source, upload.name, upload.encoding)
    missing = [c for c in COLUMNS[upload.feed] if c not in raw.column_names]
    if missing:
        raise bad_file("{file}: columns missing for the feed {feed}: {columns}", upload.name, field="file",
                       feed=upload.feed, columns=", ".join(missing))
    good, rejected, out_of_year = check_rows(raw, upload.feed, upload.year, division)
    dated = [c for c, k in COLUMNS[upload.feed].items() if k == "year_date"]
    if dated and raw.num_rows and out_of_year > WRONG_YEAR_SHARE * raw.num_rows:
        years = pc.value_counts(pc.year(_dates(raw[dated[0]].combine_chunks()))).to_pylist()
        found = max((y for y in years if y["values"] is not None), key=lambda y: y["counts"], default=None)
        raise bad_file("{file}: the feed's dates are of {found}, not of {year}: is it the feed of another year?",
                       upload.name, field="year", found=found["values"] if found else "?", year=upload.year)
    if raw.num_rows and not good.num_rows:
        raise bad_file("{file}: no row of the file is valid ({count} rejected); first reason: {reason}", upload.name,
                       count=len(rejected), reason=_reason_text(rejected[0].reason, rejected[0].column, "en"))
    findings = cross_check(db, blobs, upload.feed, upload.year, division, good)
    findings["rejected_by_reason"] = _count_reasons(rejected)
    with tempfile.TemporaryDirectory() as work:
        rows_file = Path(work) / "rows.parquet"
        pq.write_table(good, rows_file, compression="zstd")
        rows_digest, _ = blobs.put_file(rows_file)
    source_digest, _ = blobs.put_file(source)
    rejects_digest = _store_bytes(blobs, rejects_csv(raw, rejected, _reason_text)) if rejected else None
    # The next version number; two uploads of one feed at once: the second to insert retries with
    # the number after the first's (PostgreSQL makes it wait for the first's commit on the unique key).
    for attempt in range(VERSION_ATTEMPTS):
        version = (db.scalar(select(func.max(FeedVersion.version)).where(
            FeedVersion.feed == upload.feed, FeedVersion.year == upload.year,
            FeedVersion.division_code == division)) or 0) + 1
        row = FeedVersion(feed=upload.feed, department=DEPARTMENTS[upload.feed], year=upload.year,
                          division_code=division, version=version, source_name=upload.name[:255], source_format=fmt,
                          source_encoding=encoding, source_digest=source_digest, rows_digest=rows_digest,
                          rejects_digest=rejects_digest, rows_total=raw.num_rows, rows_accepted=good.num_rows,
                          rows_rejected=len(rejected), findings=findings, org_id=actor.org_id,
                          uploaded_by=actor.user_id)
        try:
            with db.begin_nested():
                db.add(row)
                db.flush()
            break
        except IntegrityError as exc:
            if attempt == VERSION_ATTEMPTS - 1:
                raise Conflict("Another version of this feed was stored at the same moment; upload it again.",
                               code="feed_version_taken") from exc
    audit.record(db, actor, "monitoring.feed_uploaded", target_type="monitoring_feed_version", target_id=row.id,
                 feed=upload.feed, year=upload.year, division=division, version=version,
                 accepted=good.num_rows, rejected=len(rejected))
    return row


def _count_reasons(rejected: Sequence[Rejected]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in rejected:
        counts[item.reason] = counts.get(item.reason, 0) + 1
    return counts


# --- versions -----------------------------------------------------------------------------------

def current_versions(db: Session, year: int, region: str) -> dict[str, list[FeedVersion]]:
    """The feed versions a run of ``region`` reads: for each feed, the newest version of every
    division within the region; where there is none, the newest one for the province (which covers
    the region). A feed with nothing to read maps to an empty list."""
    rows = db.scalars(select(FeedVersion).where(FeedVersion.year == year).order_by(FeedVersion.version)).all()
    newest: dict[tuple[str, str], FeedVersion] = {}
    for row in rows:
        newest[(row.feed, row.division_code)] = row
    out: dict[str, list[FeedVersion]] = {}
    for feed in FEEDS:
        inside = [v for (f, d), v in sorted(newest.items()) if f == feed and d != PROVINCE and within(region, d)]
        province = newest.get((feed, PROVINCE))
        out[feed] = inside if inside else ([province] if province is not None else [])
    return out


def list_versions(db: Session, actor: Actor, *, year: int | None = None, feed: str | None = None,
                  division: str | None = None) -> list[FeedVersion]:
    require(actor, "monitoring.feeds.read", Resource(division=division or actor.jurisdiction or PROVINCE))
    query = select(FeedVersion)
    if year is not None:
        query = query.where(FeedVersion.year == year)
    if feed:
        query = query.where(FeedVersion.feed == feed)
    if division:
        query = query.where(FeedVersion.division_code == division)
    rows = db.scalars(query.order_by(FeedVersion.year.desc(), FeedVersion.feed, FeedVersion.division_code,
                                     FeedVersion.version.desc())).all()
    return [r for r in rows if actor.jurisdiction is None or within(actor.jurisdiction, r.division_code)
            or within(r.division_code, actor.jurisdiction)]


def get_version(db: Session, actor: Actor, version_id: int) -> FeedVersion:
    row = db.get(FeedVersion, version_id)
    if row is None:
        raise NotFound("No such feed version.")
    require(actor, "monitoring.feeds.read", Resource(division=row.division_code))
    return row


# --- across departments -------------------------------------------------------------------------

def _known(db: Session, blobs: BlobStore, year: int, division: str, feed: str, columns: list[str]) -> pa.Table | None:
    versions = current_versions(db, year, division)[feed]
    tables = [pq.read_table(blobs.path(v.rows_digest), columns=columns) for v in versions]
    return pa.concat_tables(tables) if tables else None


def _examples(values: pa.Array) -> list[str]:
    return [str(v) for v in values.slice(0, MAX_EXAMPLES).to_pylist()]


def cross_check(db: Session, blobs: BlobStore, feed: str, year: int, division: str, good: pa.Table) -> dict[str, Any]:
    """Records of this feed that disagree with the other departments' current feeds (reported,
    not refused: either side may be the one that is wrong)."""
    findings: dict[str, Any] = {}
    if feed == "household_registration":
        # A resident registered in two divisions (another county's current registration).
        others = list(db.scalars(select(FeedVersion).where(
            FeedVersion.year == year, FeedVersion.feed == feed, FeedVersion.division_code != division)).all())
        newest: dict[str, FeedVersion] = {}
        for v in sorted(others, key=lambda v: v.version):
            newest[v.division_code] = v
        ids = good["resident_id"]
        twice: list[str] = []
        for v in newest.values():
            if within(division, v.division_code) or within(v.division_code, division):
                continue  # the province's file and a county's overlap by design
            theirs = pq.read_table(blobs.path(v.rows_digest), columns=["resident_id"])["resident_id"]
            twice += _examples(ids.filter(pc.is_in(ids, value_set=theirs)))
        if twice:
            findings["registered_elsewhere"] = {"examples": twice[:MAX_EXAMPLES]}
        return findings
    registration = _known(db, blobs, year, division, "household_registration", ["resident_id", "household_id"])
    if registration is None:
        findings["no_registration"] = True
        return findings
    for column, kind in COLUMNS[feed].items():
        if kind not in ("resident_id", "household_id"):
            continue
        known = registration[kind]
        unknown = good[column].filter(pc.invert(pc.is_in(good[column], value_set=known)))
        if len(unknown):
            findings.setdefault("unknown_to_registration", {})[column] = {"count": len(unknown),
                                                                          "examples": _examples(unknown)}
    if feed == "civil_affairs":
        heads = good.select(["household_id", "head_resident_id"]).rename_columns(["claimed", "resident_id"])
        joined = heads.join(registration, "resident_id")
        differ = joined.filter(pc.not_equal(joined["claimed"], joined["household_id"]))
        if differ.num_rows:
            findings["conflicts"] = {"count": differ.num_rows, "examples": [
                {"resident_id": r["resident_id"], "civil_affairs": r["claimed"], "household_registration":
                 r["household_id"]} for r in differ.slice(0, MAX_EXAMPLES).to_pylist()]}
    return findings
