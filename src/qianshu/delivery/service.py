"""Watermarked copies of a product and the search for the source of a leaked one.

A copy's marks are keyed to its recipient (a contract id, ``watermark.recipient_secret``). The
candidates of a detection are the recipients of the product's recorded copies and its contracts
(:func:`contract_recipients`, the one place the exchange is asked). Detection reads a whole file,
so it runs outside any transaction: :func:`prepare_detection` (a read), :func:`run_detection`
(no database), :func:`record_detection` (a short write: the audit row).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.catalog import permissions as catalog_permissions
from qianshu.catalog import service as catalog_service
from qianshu.core import audit, policy
from qianshu.core.actor import Actor
from qianshu.core.blobs import open_blob_store
from qianshu.core.db import Database
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.settings import Settings
from qianshu.delivery.decoys import (
    DECOY_RULES,
    MAX_DECOYS,
    DecoyModel,
    DecoyTrace,
    make_model,
    trace_decoys,
    with_decoys,
)
from qianshu.delivery.detection import Detection, detect_file
from qianshu.delivery.files import BATCH_ROWS, FORMATS, UnreadableFile, original_sample, read_suspect, write_copy
from qianshu.delivery.models import WatermarkedCopy, WatermarkPolicyRow
from qianshu.delivery.settings import DeliverySettings
from qianshu.delivery.watermark import (
    PLAN_RULES,
    PLAN_SAMPLE_ROWS,
    NoIdentity,
    WatermarkKey,
    WatermarkPlan,
    WatermarkPolicy,
    make_plan,
    watermark_batches,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
from qianshu.registry import service as registry_service

if TYPE_CHECKING:
    from qianshu.catalog.models import Listing

RECIPIENT_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,119}$")
MAX_CANDIDATES = 10_000


@dataclass(frozen=True)
class Recipient:
    key_id: str  # the contract id the copy's watermark is keyed to
    label: str = ""


@dataclass(frozen=True)
class PreparedDetection:
    listing_id: int
    org_id: int
    data: Path
    plan: WatermarkPlan
    keys: tuple[WatermarkKey, ...]
    alpha: float
    decoys: DecoyModel | None = None
    total_rows: int = 0
    # The plans of copies delivered under earlier rules (watermark.PLAN_RULES) where they differ.
    earlier_plans: tuple[WatermarkPlan, ...] = ()
    # The decoy models of copies delivered under earlier rules (decoys.DECOY_RULES) where they differ.
    earlier_decoys: tuple[DecoyModel, ...] = ()


def _listing(db: Session, actor: Actor, listing_id: int, action: str) -> Listing:
    listing = catalog_service.get_listing(db, actor, listing_id)
    policy.require(actor, action, catalog_permissions.listing(listing),
                   hidden=NotFound("No such product in the catalogue."))
    return listing


def product_data(db: Session, settings: Settings, listing: Listing) -> Path:
    """The product's normalised Parquet (the data every copy is made from)."""
    reg = registry_service.load_registration(db, listing.registration_id)
    data = registry_service.load_registration(db, reg.data_from_id) if reg.data_from_id else reg
    if not data.parquet_sha256:
        raise Conflict("This product has no data file yet.")
    return open_blob_store(settings).path(data.parquet_sha256)


def watermark_policy(db: Session, settings: Settings, listing: Listing) -> WatermarkPolicy:
    """What the seller allows for ``listing``: its identifying columns and tolerances where it set
    them, the installation's defaults otherwise (identity chosen from the data, decimal columns
    moved by the default number of units, integers left alone)."""
    section = settings.section(DeliverySettings)
    row = db.get(WatermarkPolicyRow, listing.id)
    return WatermarkPolicy(identity=tuple(row.identity) if row else (),
                           tolerances={k: float(v) for k, v in (row.tolerances if row else {}).items()},
                           gamma=section.watermark_gamma, default_tolerance_units=section.watermark_tolerance_units,
                           decoys=row.decoys if row else 0)


def decoy_model_for(data: Path, watermark: WatermarkPolicy, plan: WatermarkPlan,
                    rules: int = DECOY_RULES[0]) -> DecoyModel:
    """How the product's decoy rows look (none unless the seller allows them): made from the same
    first rows as the plan, so delivery and tracing agree."""
    if watermark.decoys <= 0:
        return DecoyModel(pq.read_schema(data), (), 0)
    return make_model(original_sample(data, PLAN_SAMPLE_ROWS), plan.identity, watermark.decoys, rules)


def delivered_batches(data: Path, plan: WatermarkPlan, key: WatermarkKey, decoys: DecoyModel,
                      batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """The product's rows as one recipient receives them: marked, with its decoy rows in place."""
    parquet = pq.ParquetFile(data)
    marked = watermark_batches(parquet.iter_batches(batch_size=batch_rows), plan, key)
    return with_decoys(marked, decoys, key, parquet.metadata.num_rows)


@dataclass(frozen=True)
class ColumnChoice:
    name: str
    kind: str  # numeric | text | other
    identifies: bool
    tolerance: float | None  # as the seller set it
    step: float | None  # what the plan moves it by (None: not marked)
    marked: bool


@dataclass(frozen=True)
class PolicyView:
    listing: Listing
    columns: list[ColumnChoice]
    locked: bool  # copies exist: the policy can no longer change
    decoys: int  # decoy rows per copy the seller allows
    chosen_identity: bool  # the seller named the identifying columns
    problem: str = ""  # the plan cannot be made (no identity): the message id
    error: str = ""  # a refused change, in the reader's language


def _copies_exist(db: Session, listing_id: int) -> bool:
    return db.scalar(select(WatermarkedCopy.id).where(WatermarkedCopy.listing_id == listing_id).limit(1)) is not None


def policy_view(db: Session, actor: Actor, settings: Settings, listing_id: int) -> PolicyView:
    listing = _listing(db, actor, listing_id, "watermark.issue")
    try:
        data = product_data(db, settings, listing)
    except Conflict as exc:  # nothing to choose from yet: the page says why
        return PolicyView(listing, [], False, 0, False, exc.message)
    schema = pq.read_schema(data)
    chosen = watermark_policy(db, settings, listing)
    problem = ""
    try:
        plan: WatermarkPlan | None = plan_for(data, chosen)
    except Conflict as exc:
        plan, problem = None, exc.message
    columns = []
    for name in schema.names:
        kind = schema.field(name).type
        family = "numeric" if (pa.types.is_integer(kind) or pa.types.is_floating(kind)) else (
            "text" if (pa.types.is_string(kind) or pa.types.is_large_string(kind)) else "other")
        mark = plan.column(name) if plan else None
        columns.append(ColumnChoice(name, family, bool(plan and name in plan.identity), chosen.tolerances.get(name),
                                    mark.step if mark and mark.kind == "numeric" else None, mark is not None))
    return PolicyView(listing, columns, _copies_exist(db, listing.id), chosen.decoys, bool(chosen.identity), problem)


def set_watermark_policy(db: Session, actor: Actor, settings: Settings, listing_id: int,
                         identity: Sequence[str], tolerances: Mapping[str, float],
                         decoys: int = 0) -> WatermarkPolicyRow:
    """Set the identifying columns, the numeric columns' tolerances and the decoy rows per copy of a
    product's watermark."""
    listing = _listing(db, actor, listing_id, "watermark.issue")
    if _copies_exist(db, listing.id):
        raise Conflict("The watermark of this product is fixed once a copy has been delivered: "
                       "a change would make those copies untraceable.")
    for name, tolerance in tolerances.items():
        if not math.isfinite(tolerance) or tolerance < 0:
            raise InvalidInput("The tolerance of {column} must be a number of at least 0.", field="tolerances",
                               column=name)
    if not 0 <= decoys <= MAX_DECOYS:
        raise InvalidInput("Decoy rows per copy must be a whole number from 0 to {n}.", field="decoys", n=MAX_DECOYS)
    data = product_data(db, settings, listing)
    section = settings.section(DeliverySettings)
    policy = WatermarkPolicy(identity=tuple(identity), tolerances=dict(tolerances), gamma=section.watermark_gamma,
                             default_tolerance_units=section.watermark_tolerance_units, decoys=decoys)
    plan_for(data, policy)  # names an unknown column, or a product whose rows nothing identifies
    row = db.get(WatermarkPolicyRow, listing.id) or WatermarkPolicyRow(listing_id=listing.id)
    row.identity, row.tolerances, row.decoys, row.updated_by = list(identity), dict(tolerances), decoys, actor.user_id
    db.add(row)
    db.flush()
    audit.record(db, actor, "watermark.policy", target_type="listing", target_id=listing.id,
                 target_org_id=listing.org_id, identity=list(identity), tolerances=dict(tolerances), decoys=decoys)
    return row


def plan_for(data: Path, watermark: WatermarkPolicy, rules: int = PLAN_RULES[0]) -> WatermarkPlan:
    try:
        return make_plan(original_sample(data, PLAN_SAMPLE_ROWS), watermark, rules)
    except NoIdentity:
        raise Conflict("No column identifies the rows of this product, so its copies cannot be "
                       "watermarked.") from None
    except KeyError as exc:
        raise InvalidInput("The column {column} is not in this product's data.", field="columns",
                           column=str(exc.args[0])) from None


def contract_recipients(db: Session, listing: Listing) -> list[Recipient]:
    """The product's signed contracts (active or ended) under which rows left the exchange: a copy
    delivered under a contract is keyed to its number. Sandbox-only contracts deliver no rows."""
    from qianshu.exchange.trades import recipients_of

    return [Recipient(r.number, r.number) for r in recipients_of(db, listing.id) if r.delivery_mode != "sandbox"]


def recipients(db: Session, listing: Listing) -> list[Recipient]:
    rows = db.execute(select(WatermarkedCopy.recipient_key, WatermarkedCopy.recipient_label)
                      .where(WatermarkedCopy.listing_id == listing.id).order_by(WatermarkedCopy.id)).all()
    found: dict[str, Recipient] = {}
    for recipient in [*(Recipient(key, label) for key, label in rows), *contract_recipients(db, listing)]:
        found.setdefault(recipient.key_id, recipient)
    return list(found.values())


def _check_recipient(key: str) -> str:
    key = key.strip()
    if not RECIPIENT_KEY.match(key):
        raise InvalidInput("A recipient is a contract id of letters, digits and . _ : / - (at most 120).",
                           field="recipient")
    return key


def issue_copy(db: Session, actor: Actor, settings: Settings, listing_id: int, recipient: str, fmt: str,
               destination: Path, *, label: str = "") -> WatermarkedCopy:
    """Write a copy of the product marked for ``recipient`` to ``destination``, and record it."""
    if fmt not in FORMATS:
        raise InvalidInput("Choose a format: {formats}.", field="format", formats=", ".join(FORMATS))
    listing = _listing(db, actor, listing_id, "watermark.issue")
    recipient = _check_recipient(recipient)
    data = product_data(db, settings, listing)
    chosen = watermark_policy(db, settings, listing)
    plan = plan_for(data, chosen)
    key = WatermarkKey.for_contract(settings.secret_key, recipient, label)
    decoys = decoy_model_for(data, chosen, plan)
    try:
        rows = write_copy(delivered_batches(data, plan, key, decoys), pq.read_schema(data), destination, fmt)
    except BaseException:
        destination.unlink(missing_ok=True)  # no half-written copy is left behind
        raise
    copy = WatermarkedCopy(listing_id=listing.id, org_id=listing.org_id, recipient_key=recipient,
                           recipient_label=label[:200], file_format=fmt, rows=rows, created_by=actor.user_id)
    db.add(copy)
    db.flush()
    audit.record(db, actor, "watermark.issue", target_type="listing", target_id=listing.id,
                 target_org_id=listing.org_id, recipient=recipient, format=fmt, rows=rows)
    return copy


def prepare_detection(db: Session, actor: Actor, settings: Settings, listing_id: int,
                      also: Sequence[str] = ()) -> PreparedDetection:
    """Check the actor may look, and gather the product's data, plan and candidate keys."""
    listing = _listing(db, actor, listing_id, "watermark.detect")
    data = product_data(db, settings, listing)
    chosen = watermark_policy(db, settings, listing)
    plan = plan_for(data, chosen)
    earlier: list[WatermarkPlan] = []
    for rules in PLAN_RULES[1:]:
        other = plan_for(data, chosen, rules)
        if other != plan and other not in earlier:
            earlier.append(other)
    candidates = recipients(db, listing)
    known = {r.key_id for r in candidates}
    candidates += [Recipient(key) for key in dict.fromkeys(_check_recipient(k) for k in also if k.strip())
                   if key not in known]
    if len(candidates) > MAX_CANDIDATES:
        raise InvalidInput("At most {n} recipients can be tested at once.", field="recipient", n=MAX_CANDIDATES)
    keys = tuple(WatermarkKey.for_contract(settings.secret_key, r.key_id, r.label) for r in candidates)
    alpha = settings.section(DeliverySettings).detection_false_positive_rate
    decoys = decoy_model_for(data, chosen, plan)
    earlier_decoys = tuple(model for model in (decoy_model_for(data, chosen, plan, rules) for rules in DECOY_RULES[1:])
                           if model != decoys)
    return PreparedDetection(listing.id, listing.org_id, data, plan, keys, alpha, decoys,
                             pq.ParquetFile(data).metadata.num_rows, tuple(earlier), earlier_decoys)


def run_detection(prepared: PreparedDetection, suspect: Path) -> Detection:
    try:
        return detect_file(suspect, prepared.data, (prepared.plan, *prepared.earlier_plans), prepared.keys,
                           prepared.alpha)
    except UnreadableFile:
        raise InvalidInput("The file could not be read as CSV, XLSX or Parquet.", field="file") from None


def run_trace(prepared: PreparedDetection, suspect: Path) -> DecoyTrace:
    """Look for the candidates' decoy rows in the suspect file (no database)."""
    if prepared.decoys is None or prepared.decoys.count == 0:
        raise Conflict("This product's copies carry no decoy rows: the seller has not allowed them.")
    try:
        table = read_suspect(suspect)
    except UnreadableFile:
        raise InvalidInput("The file could not be read as CSV, XLSX or Parquet.", field="file") from None
    return trace_decoys(table, (prepared.decoys, *prepared.earlier_decoys), prepared.keys, prepared.total_rows,
                        prepared.alpha)


def record_trace(db: Session, actor: Actor, prepared: PreparedDetection, trace: DecoyTrace,
                 file_name: str = "") -> None:
    audit.record(db, actor, "watermark.trace", target_type="listing", target_id=prepared.listing_id,
                 target_org_id=prepared.org_id, file=file_name[:200], rows=trace.rows_in_file,
                 candidates=len(prepared.keys), decoys_found=len(trace.found), named=list(trace.named))


def trace_leak(database: Database, actor: Actor, settings: Settings, listing_id: int, suspect: Path,
               also: Sequence[str] = (), file_name: str = "") -> DecoyTrace:
    """Which contracts' decoy rows are in a leaked file: read, look (no transaction), audit."""
    with database.unit_of_work(write=False) as db:
        prepared = prepare_detection(db, actor, settings, listing_id, also)
    trace = run_trace(prepared, suspect)
    with database.unit_of_work() as db:
        record_trace(db, actor, prepared, trace, file_name or suspect.name)
    return trace


def record_detection(db: Session, actor: Actor, prepared: PreparedDetection, detection: Detection,
                     file_name: str = "") -> None:
    named = detection.named
    audit.record(db, actor, "watermark.detect", target_type="listing", target_id=prepared.listing_id,
                 target_org_id=prepared.org_id, file=file_name[:200], rows=detection.rows_in_file,
                 aligned=detection.rows_aligned, candidates=len(prepared.keys),
                 named=named.key_id if named else None,
                 log10_p=round(named.log10_adjusted, 2) if named else None)


def find_leak(database: Database, actor: Actor, settings: Settings, listing_id: int, suspect: Path,
              also: Sequence[str] = (), file_name: str = "") -> Detection:
    """The three steps of a detection, each in its own place (CLI, tests)."""
    with database.unit_of_work(write=False) as db:
        prepared = prepare_detection(db, actor, settings, listing_id, also)
    detection = run_detection(prepared, suspect)
    with database.unit_of_work() as db:
        record_detection(db, actor, prepared, detection, file_name or suspect.name)
    return detection
