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

Reading and checking a file: ``feeds_files.py``. Validation is column-wise with Arrow (no Python
loop per row except for the rejected ones): a county's household registration of a million rows
takes about 20 s on a small machine.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.core import audit
from qianshu.core.actor import Actor
from qianshu.core.blobs import BlobStore
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.i18n import Label
from qianshu.core.identifiers import validate_division_code
from qianshu.core.policy import Resource, require, within
from qianshu.monitoring.feeds_files import (
    COLUMNS,
    Rejected,
    bad_file,
    check_rows,
    parse_dates,
    read_feed_file,
    reason_text,
    rejects_csv,
)
from qianshu.monitoring.models import FeedVersion
from qianshu.monitoring.population import DEPARTMENTS, FEEDS
from qianshu.monitoring.versions import insert_next_version

PROVINCE = "520000"
VERSION_ATTEMPTS = 5
MAX_EXAMPLES = 20  # findings keep this many examples of each kind
# More than this share of a feed's dated rows outside its year: the file is of another year.
WRONG_YEAR_SHARE = 0.5


# --- storing ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Upload:
    feed: str
    year: int
    division: str
    name: str
    encoding: str = "auto"
    # received through data sharing (shared_feeds.py): the grant and the owner's feed version
    sharing_request_id: int | None = None
    sharing_file_version: int | None = None


def upload_resource(division: str) -> Resource:
    return Resource(division=division)


def require_upload(actor: Actor, division: str) -> None:
    """Refuse unless ``actor`` may upload a feed for ``division`` (its own jurisdiction): asked
    before a byte of the file is read."""
    require(actor, "monitoring.feeds.upload", upload_resource(division))


def require_upload_target(actor: Actor, year: int, division: str) -> str:
    """The division of an upload about to be received, once its year and division are plausible
    (422 naming the field) and then ``actor`` may send it (403): bad input is answered as such before
    who may send it is asked. (The feed is checked with the file, as before.)"""
    validate_year(year)
    division = validate_feed_division_code(division)
    require_upload(actor, division)
    return division


def validate_year(year: int) -> None:
    """A feed's year is plausible (422 naming the field)."""
    if not 2000 <= year <= 2100:
        raise InvalidInput("{field}: not a plausible year", field="year")


def validate_target(upload: Upload) -> str:
    """The upload's division, once its feed, year and division are plausible (422 naming the field)."""
    validate_year(upload.year)
    return validate_feed_division(upload.feed, upload.division)


def validate_feed_division(feed: str, division: str) -> str:
    """The division, once the feed is known and the division is a county of Guizhou or the province."""
    if feed not in FEEDS:
        raise InvalidInput("{field}: not a known feed", field="feed")
    return validate_feed_division_code(division)


def validate_feed_division_code(division: str) -> str:
    """The division, once it is a county of Guizhou or the province (the divisions feeds are for)."""
    division = validate_division_code(division, "division")
    if division != PROVINCE and (not division.startswith("52") or division.endswith("00")):
        raise InvalidInput("{field}: a feed is for a county of Guizhou or for the province (520000)", field="division")
    return division


def _store_bytes(blobs: BlobStore, data: bytes) -> str:
    digest, _ = blobs.put_stream([data])
    return digest


def _no_progress(fraction: float, stage: str = "") -> None:
    return None


def store_feed(db: Session, actor: Actor, blobs: BlobStore, source: Path, upload: Upload,
               progress: Callable[[float, str], None] = _no_progress) -> FeedVersion:
    """Validate the file and keep its good rows as the next version of the feed (all or nothing:
    a file that cannot be read leaves nothing behind). ``progress(fraction, stage)`` is told as
    the work goes (the upload job's progress)."""
    division = validate_target(upload)
    require(actor, "monitoring.feeds.upload", upload_resource(division))
    progress(0.05, "reading")
    raw, fmt, encoding = read_feed_file(source, upload.name, upload.encoding)
    progress(0.3, "checking")
    missing = [c for c in COLUMNS[upload.feed] if c not in raw.column_names]
    if missing:
        raise bad_file("{file}: columns missing for the feed {feed}: {columns}", upload.name, field="file",
                       feed=Label("monitoring feed", upload.feed), columns=", ".join(missing))
    good, rejected, out_of_year = check_rows(raw, upload.feed, upload.year, division)
    dated = [c for c, k in COLUMNS[upload.feed].items() if k == "year_date"]
    if dated and raw.num_rows and out_of_year > WRONG_YEAR_SHARE * raw.num_rows:
        years = pc.value_counts(pc.year(parse_dates(raw[dated[0]].combine_chunks()))).to_pylist()
        found = max((y for y in years if y["values"] is not None), key=lambda y: y["counts"], default=None)
        raise bad_file("{file}: the feed's dates are of {found}, not of {year}: is it the feed of another year?",
                       upload.name, field="year", found=found["values"] if found else "?", year=upload.year)
    if raw.num_rows and not good.num_rows:
        raise bad_file("{file}: no row of the file is valid ({count} rejected); first reason: {reason}", upload.name,
                       count=len(rejected), reason=reason_text(rejected[0].reason, rejected[0].column, "en"))
    # The files go to the blob store before ``db`` is first used, and progress is told only
    # before then: the upload job writes its progress in transactions of its own, and on SQLite
    # ``db``'s first statement takes the one write lock (BEGIN IMMEDIATE) until it commits, so a
    # progress report after it would wait for this very transaction ("database is locked").
    # Blobs of a file refused after this point are left to the orphan sweep.
    progress(0.6, "storing")
    with tempfile.TemporaryDirectory() as work:
        rows_file = Path(work) / "rows.parquet"
        pq.write_table(good, rows_file, compression="zstd")
        rows_digest, _ = blobs.put_file(rows_file)
    source_digest, _ = blobs.put_file(source)
    rejects_digest = _store_bytes(blobs, rejects_csv(raw, rejected, reason_text)) if rejected else None
    progress(0.8, "cross_check")
    findings = cross_check(db, blobs, upload.feed, upload.year, division, good)
    gaps = missing_months(upload.feed, good)
    if gaps:
        findings["missing_months"] = gaps
    findings["rejected_by_reason"] = _count_reasons(rejected)
    latest = select(func.max(FeedVersion.version)).where(
        FeedVersion.feed == upload.feed, FeedVersion.year == upload.year, FeedVersion.division_code == division)
    row = insert_next_version(db, latest, lambda version: FeedVersion(
        feed=upload.feed, department=DEPARTMENTS[upload.feed], year=upload.year, division_code=division,
        version=version, source_name=upload.name[:255], source_format=fmt, source_encoding=encoding,
        source_digest=source_digest, rows_digest=rows_digest, rejects_digest=rejects_digest,
        rows_total=raw.num_rows, rows_accepted=good.num_rows, rows_rejected=len(rejected), findings=findings,
        org_id=actor.org_id, uploaded_by=actor.user_id, sharing_request_id=upload.sharing_request_id,
        sharing_file_version=upload.sharing_file_version),
        attempts=VERSION_ATTEMPTS, conflict=Conflict(
            "Another version of this feed was stored at the same moment; upload it again.",
            code="feed_version_taken"))
    audit.record(db, actor, "monitoring.feed_uploaded", target_type="monitoring_feed_version", target_id=row.id,
                 feed=upload.feed, year=upload.year, division=division, version=row.version,
                 accepted=good.num_rows, rejected=len(rejected), sharing_request=upload.sharing_request_id)
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
    if division:  # a malformed code is bad input (422), not another jurisdiction (403)
        division = validate_division_code(division, "division")
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


# --- months -------------------------------------------------------------------------------------

# Feeds with a row per household and month: a month with no row at all for a county is missing.
MONTHLY = {"agriculture_income": "month"}


def missing_months(feed: str, good: pa.Table) -> dict[str, list[int]]:
    """The months of a monthly feed that a county (the first six digits of its household IDs) has
    no row for, up to the latest month of the file (later months are not due yet): reported, the
    rows are kept; the rules measure a household's income over the months it reported."""
    column = MONTHLY.get(feed)
    if column is None or not good.num_rows:
        return {}
    counties = pc.utf8_slice_codeunits(good["household_id"], 0, 6)
    months = pc.month(good[column])
    latest = pc.max(months).as_py()
    seen = pa.table({"county": counties, "month": months}).group_by(["county", "month"]).aggregate([]).to_pylist()
    present: dict[str, set[int]] = {}
    for row in seen:
        present.setdefault(row["county"], set()).add(row["month"])
    return {county: missing for county, found in sorted(present.items())
            if (missing := [m for m in range(1, latest + 1) if m not in found])}


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
