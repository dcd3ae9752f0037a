"""Government data sharing: the departments' resource catalogue, requests and their decisions,
feeds and sandbox queries over grants, the access log, and the overdue flag.

Services take ``(db, actor, ...)``, check the one policy, never commit. A decision is a
conditional UPDATE (``WHERE status = 'pending'``): of two decisions at once exactly one is
applied and the other gets a bilingual 409. Deadlines count working days with China's official
holidays and make-up working days (``sharing.workdays``).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.core import audit, events, inbox, policy
from qianshu.core.actor import SYSTEM, Actor
from qianshu.core.blobs import BlobStore
from qianshu.core.db import Database
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.i18n import Label
from qianshu.core.settings import Settings
from qianshu.core.timeutil import SHANGHAI, utcnow
from qianshu.sharing import grants, schemas, workdays
from qianshu.sharing.events import FeedFilePublished
from qianshu.sharing.models import (
    SharingAccess,
    SharingFile,
    SharingRequest,
    SharingResource,
)
from qianshu.sharing.permissions import request_resource, resource_of
from qianshu.sharing.settings import SharingSettings

CAPABILITY = "sharing"
OVERDUE = "The sharing request #{id} for {resource} passed its deadline of {due} without a decision."
REQUESTED = "{requester} requested your resource {resource} (request #{id}); decide by {due}."
DECIDED = "Your request #{id} for {resource} was {decision}."


def today() -> date:
    return utcnow().astimezone(SHANGHAI).date()


# --- the catalogue -----------------------------------------------------------------------------

def publish_resource(db: Session, actor: Actor, data: schemas.ResourceIn) -> SharingResource:
    """A department publishes a resource (or, with the same code, changes its published one)."""
    policy.require(actor, "sharing.resource.publish", resource_of(actor.org_id or 0))
    names = [f.name for f in data.fields]
    if len(set(names)) != len(names):
        raise InvalidInput("Each field is named once; {name} appears twice.", field="fields",
                           name=next(n for n in names if names.count(n) > 1))
    if data.sharing_class == "conditional" and not data.conditions.strip():
        raise InvalidInput("A conditionally shared resource states its conditions.", field="conditions")
    row = db.scalar(select(SharingResource).where(SharingResource.org_id == actor.org_id,
                                                  SharingResource.code == data.code))
    if row is None:
        row = SharingResource(org_id=actor.org_id, code=data.code)
        db.add(row)
    for key, value in data.model_dump(exclude={"fields", "code"}).items():
        setattr(row, key, value)
    row.fields = [f.model_dump() for f in data.fields]
    db.flush()
    audit.record(db, actor, "sharing.resource.published", target_type="sharing_resource", target_id=row.id,
                 target_org_id=row.org_id, code=row.code, sharing_class=row.sharing_class)
    return row


def list_resources(db: Session, actor: Actor, *, org_id: int | None = None, query: str = "",
                   sharing_class: str = "") -> list[SharingResource]:
    policy.require(actor, "sharing.catalogue.read")
    stmt = select(SharingResource).order_by(SharingResource.org_id, SharingResource.id)
    if org_id is not None:
        stmt = stmt.where(SharingResource.org_id == org_id)
    if sharing_class:
        stmt = stmt.where(SharingResource.sharing_class == sharing_class)
    if query.strip():
        like = f"%{query.strip()[:100]}%"
        stmt = stmt.where(or_(SharingResource.name_zh.like(like), SharingResource.name_en.like(like),
                              SharingResource.code.like(like)))
    return list(db.scalars(stmt))


def get_resource(db: Session, actor: Actor, resource_id: int) -> SharingResource:
    policy.require(actor, "sharing.catalogue.read")
    row = db.get(SharingResource, resource_id)
    if row is None:
        raise NotFound("Resource {id} does not exist.", id=resource_id)
    return row


# --- requests ----------------------------------------------------------------------------------

def _deadline(settings: Settings, start: date) -> date:
    section = settings.section(SharingSettings)
    return workdays.add_working_days(start, section.decision_working_days, section.extra_holidays,
                                     section.extra_workdays)


def _check_fields(resource: SharingResource, fields: Iterable[str], field: str = "fields") -> list[str]:
    known = resource.field_names()
    wanted = list(dict.fromkeys(fields))
    unknown = [f for f in wanted if f not in known]
    if unknown:
        raise InvalidInput("The resource has no field {name}.", field=field, code="unknown_field",
                           name=", ".join(unknown)[:200])
    if not wanted:
        raise InvalidInput("Choose at least one field.", field=field)
    return [f for f in known if f in wanted]  # in the resource's order


def check_period(start: date, end: date, field: str = "period_end") -> None:
    if end < start:
        raise InvalidInput("The period ends ({end}) before it starts ({start}).", field=field,
                           code="period_reversed", start=start.isoformat(), end=end.isoformat())


def request_data(db: Session, actor: Actor, settings: Settings, data: schemas.RequestIn) -> SharingRequest:
    """Request a resource: conditional ones wait for the owner (10 working days); unconditional
    ones are granted at once; not-shared ones cannot be requested."""
    policy.require(actor, "sharing.request.create")
    resource = db.get(SharingResource, data.resource_id)
    if resource is None:
        raise NotFound("Resource {id} does not exist.", id=data.resource_id)
    if resource.sharing_class == "not_shared":
        raise Conflict("{resource} is not shared; it cannot be requested.", field="resource_id",
                       code="not_shared", resource=resource.name_zh)
    if resource.org_id == actor.org_id:
        raise Conflict("This resource is your own department's.", field="resource_id", code="own_resource")
    fields = _check_fields(resource, data.fields)
    check_period(data.period_start, data.period_end)
    now = utcnow()
    row = SharingRequest(resource_id=resource.id, owner_org_id=resource.org_id, requester_org_id=actor.org_id,
                         purpose=data.purpose, fields=fields, period_start=data.period_start,
                         period_end=data.period_end, access_type=data.access_type, created_by=actor.user_id,
                         created_at=now)
    if resource.sharing_class == "unconditional":
        row.status, row.granted_fields = "granted", fields
        row.granted_start, row.granted_end, row.decided_at = data.period_start, data.period_end, now
        row.expires_on = grants.expiry(None, data.period_end)
    else:
        row.due_on = _deadline(settings, now.astimezone(SHANGHAI).date())
    db.add(row)
    db.flush()
    audit.record(db, actor, "sharing.request.created", target_type="sharing_request", target_id=row.id,
                 target_org_id=resource.org_id, resource_id=resource.id, fields=fields, status=row.status)
    requester = accounts.organisation_by_id(db, actor.org_id or 0)
    if row.status == "pending":
        inbox.notify(db, CAPABILITY, REQUESTED, org_id=resource.org_id, subject=("sharing_request", row.id),
                     link=f"/sharing/requests/{row.id}", id=row.id, resource=resource.name_zh,
                     requester=requester.name, due=(row.due_on or now.date()).isoformat())
    return row


def load_request(db: Session, actor: Actor, request_id: int, action: str = "sharing.request.read") -> SharingRequest:
    row = db.get(SharingRequest, request_id)
    missing = NotFound("Sharing request {id} does not exist.", id=request_id)
    if row is None:
        raise missing
    res = request_resource(row.owner_org_id, row.requester_org_id)
    if not policy.allows(actor, "sharing.request.read", res):
        policy.require(actor, action, res, hidden=missing)
    policy.require(actor, action, res)
    return row


def decide_request(db: Session, actor: Actor, request_id: int, data: schemas.DecisionIn) -> SharingRequest:
    """The owner approves, narrows (a subset of the fields, a shorter period) or rejects (with a
    reason). Two decisions at once: one is applied, the other gets a 409."""
    row = load_request(db, actor, request_id, "sharing.request.decide")
    resource = db.get_one(SharingResource, row.resource_id)
    values: dict[str, Any] = {"decided_by": actor.user_id, "decided_at": utcnow(), "reason": data.reason.strip()}
    if data.decision == "reject":
        if not data.reason.strip():
            raise InvalidInput("Say why the request is rejected.", field="reason", code="reason_required")
        values.update(status="rejected")
    elif data.decision == "approve":
        values.update(status="approved", granted_fields=list(row.fields), granted_start=row.period_start,
                      granted_end=row.period_end)
    else:
        fields = _check_fields(resource, data.fields if data.fields is not None else row.fields)
        beyond = [f for f in fields if f not in row.fields]
        if beyond:
            raise InvalidInput("Narrowing grants only fields that were asked for; {name} was not.",
                               field="fields", code="not_narrower", name=", ".join(beyond))
        start = data.period_start or row.period_start
        end = data.period_end or row.period_end
        check_period(start, end)
        if start < row.period_start or end > row.period_end:
            raise InvalidInput("Narrowing grants a period within the one asked for ({start} to {end}).",
                               field="period_start", code="not_narrower", start=row.period_start.isoformat(),
                               end=row.period_end.isoformat())
        if fields == list(row.fields) and (start, end) == (row.period_start, row.period_end):
            raise InvalidInput("Narrowing grants fewer fields or a shorter period; approve to grant all.",
                               field="fields", code="not_narrower")
        values.update(status="narrowed", granted_fields=fields, granted_start=start, granted_end=end)
    if values["status"] != "rejected":
        values["expires_on"] = grants.expiry(data.expires_on, values["granted_end"])
    result = db.execute(update(SharingRequest)
                        .where(SharingRequest.id == row.id, SharingRequest.status == "pending")
                        .values(version=SharingRequest.version + 1, **values)
                        .execution_options(synchronize_session=False))
    db.refresh(row)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("This request is already {status}; the decision was not applied.",
                       code="request_already_decided", status=Label("sharing request status", row.status))
    audit.record(db, actor, f"sharing.request.{row.status}", target_type="sharing_request", target_id=row.id,
                 target_org_id=row.owner_org_id, fields=row.granted_fields, reason=row.reason)
    inbox.notify(db, CAPABILITY, DECIDED, org_id=row.requester_org_id, subject=("sharing_request", row.id),
                 link=f"/sharing/requests/{row.id}", id=row.id, resource=resource.name_zh,
                 decision=Label("sharing request status", row.status))
    return row


def list_requests(db: Session, actor: Actor, box: str = "mine") -> list[SharingRequest]:
    """``incoming``: requests for the actor's department's resources; ``mine``: its own requests;
    ``all``: every request (the big-data bureau's supervision)."""
    if box == "all":
        policy.require(actor, "sharing.supervise")
        where: Any = True
    else:
        policy.require(actor, "sharing.request.create")
        column = SharingRequest.owner_org_id if box == "incoming" else SharingRequest.requester_org_id
        where = column == actor.org_id
    return list(db.scalars(select(SharingRequest).where(where).order_by(SharingRequest.id.desc()).limit(500)))


def resources_by_id(db: Session, ids: Iterable[int]) -> dict[int, SharingResource]:
    wanted = set(ids)
    if not wanted:
        return {}
    return {r.id: r for r in db.scalars(select(SharingResource).where(SharingResource.id.in_(wanted)))}


def deadline_unknown_years(row: SharingRequest) -> list[int]:
    """For a pending request: the years its deadline was counted over whose official holidays the
    working-day calendar does not have (counted Monday to Friday, less the operator's
    ``[sharing] extra_holidays``): shown beside the deadline, so no one takes it for the official one."""
    if row.status != "pending" or row.due_on is None:
        return []
    return workdays.unknown_years(row.created_at.astimezone(SHANGHAI).date(), row.due_on)


def is_overdue(row: SharingRequest, on: date | None = None) -> bool:
    return row.status == "pending" and row.due_on is not None and (on or today()) > row.due_on


def flag_overdue(db: Session, on: date | None = None) -> int:
    """Flag pending requests past their deadline, once each: told to both departments and to every
    big-data bureau. Returns how many were flagged."""
    day = on or today()
    rows = list(db.scalars(select(SharingRequest).where(
        SharingRequest.status == "pending", SharingRequest.due_on < day,
        SharingRequest.overdue_flagged_at.is_(None)).order_by(SharingRequest.id).with_for_update(skip_locked=True)))
    if not rows:
        return 0
    bureaus = [o.id for o in accounts.organisations_of_type(db, "data_bureau")]
    names = resources_by_id(db, (r.resource_id for r in rows))
    for row in rows:
        row.overdue_flagged_at = utcnow()
        params: dict[str, Any] = {"id": row.id, "resource": names[row.resource_id].name_zh,
                  "due": row.due_on.isoformat() if row.due_on else ""}
        for org_id in dict.fromkeys([row.owner_org_id, row.requester_org_id, *bureaus]):
            inbox.notify(db, CAPABILITY, OVERDUE, org_id=org_id, subject=("sharing_request", row.id),
                         link=f"/sharing/requests/{row.id}", **params)
        audit.record(db, SYSTEM, "sharing.request.overdue",
                     target_type="sharing_request", target_id=row.id, target_org_id=row.owner_org_id,
                     due_on=params["due"])
    db.flush()
    return len(rows)


def flag_overdue_task(database: Database, settings: Settings) -> int:
    """The periodic task (manifest ``periodic``): flag overdue requests in its own transaction."""
    with database.unit_of_work() as db:
        return flag_overdue(db)


# --- feeds -------------------------------------------------------------------------------------

# A physical line of a feed file is read whole when it is parsed: a longer one (a file that is not
# CSV, or a hostile one without line breaks) is refused while the file streams in, never held.
MAX_LINE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class FeedShape:
    """What a stored feed file holds: its header and how many records follow it."""

    header: list[str]
    rows: int


def _bounded_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The chunks as they are, refused (422, naming the line) as soon as a line runs past
    :data:`MAX_LINE_BYTES`. Only the chunks' ends are searched (C speed): a gap between two line
    breaks inside one chunk is shorter than the chunk, and a chunk is looked at in slices of the limit."""
    run, line = 0, 1
    for chunk in chunks:
        view = memoryview(chunk)
        for at in range(0, len(chunk), MAX_LINE_BYTES):
            part = bytes(view[at:at + MAX_LINE_BYTES]) if len(chunk) > MAX_LINE_BYTES else chunk
            first = part.find(b"\n")
            if run + (len(part) if first < 0 else first) > MAX_LINE_BYTES:
                raise InvalidInput("Line {line} of the file is longer than {limit} bytes; it is not a CSV feed.",
                                   field="file", code="line_too_long", line=line, limit=MAX_LINE_BYTES)
            if first < 0:
                run += len(part)
            else:
                line += part.count(b"\n")
                run = len(part) - part.rfind(b"\n") - 1
        yield chunk


def _utf8_lines(stream: Iterable[bytes]) -> Iterator[str]:
    """A stored file's lines as text, each decoded on its own (a newline byte is never inside a UTF-8
    character), so that a file in another encoding is refused naming the very line."""
    for number, raw in enumerate(stream, start=1):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("The file is not UTF-8 text (near line {line}); save it as UTF-8 CSV and upload it "
                               "again.", field="file", code="not_utf8", line=number) from None


def inspect_feed(blobs: BlobStore, digest: str) -> FeedShape:
    """Read a stored feed file back once, streaming, no transaction open: it must be UTF-8 text (a
    byte-order mark allowed) and a well-formed CSV (quotes closed, no record longer than the
    header). Refusals name the line; blank lines are not records. (Lines are at most
    ``MAX_LINE_BYTES``: longer ones were refused as the file arrived.)"""
    reader: Any = None
    with blobs.open(digest) as stream:
        try:
            reader = csv.reader(_utf8_lines(stream), strict=True)
            header: list[str] = next(reader, [])
            width, rows = len(header), 0
            for record in reader:
                if len(record) > width:
                    raise InvalidInput("Line {line} has {count} values but the header names {expected}.",
                                       field="file", code="too_many_values", line=reader.line_num,
                                       count=len(record), expected=width)
                if record:
                    rows += 1
        except csv.Error:
            raise InvalidInput("The file is not a well-formed CSV: a quoted value is not closed properly (line "
                               "{line}).", field="file", code="bad_csv",
                               line=reader.line_num if reader else 1) from None
    return FeedShape([h.strip() for h in header], rows)


def resource_for_upload(db: Session, actor: Actor, resource_id: int) -> SharingResource:
    """The resource, if the actor's department may upload its files (asked before reading a form)."""
    resource = db.get(SharingResource, resource_id)
    if resource is None:
        raise NotFound("Resource {id} does not exist.", id=resource_id)
    policy.require(actor, "sharing.file.upload", resource_of(resource.org_id))
    return resource


def file_name(name: str) -> str:
    """The file's own name (no folders), as recorded; refused when nothing is left."""
    clean = Path(name.replace("\\", "/")).name.strip()[:200]
    if not clean or clean in (".", ".."):
        raise InvalidInput("Give the file a name.", field="file", code="file_name")
    return clean


def record_file(db: Session, actor: Actor, resource_id: int, filename: str, digest: str, size: int,
                shape: FeedShape, as_of: date) -> SharingFile:
    """Record a stored, inspected file as the resource's next feed version: its header must name
    fields of the resource."""
    resource = resource_for_upload(db, actor, resource_id)
    unknown = [h for h in shape.header if h not in resource.field_names()]
    if not shape.header or unknown:
        raise InvalidInput("The file's header must name fields of the resource (unknown: {names}).", field="file",
                           code="header_mismatch", names=", ".join(unknown)[:200] or "-")
    version = int(db.scalar(select(func.coalesce(func.max(SharingFile.version), 0))
                            .where(SharingFile.resource_id == resource.id)) or 0) + 1
    row = SharingFile(resource_id=resource.id, version=version, as_of=as_of, filename=file_name(filename),
                      digest=digest, size=size, rows=shape.rows, uploaded_by=actor.user_id)
    db.add(row)
    db.flush()
    audit.record(db, actor, "sharing.file.uploaded", target_type="sharing_resource", target_id=resource.id,
                 target_org_id=resource.org_id, version=version, digest=digest, size=size)
    events.publish(db, FeedFilePublished(resource_id=resource.id, file_id=row.id))
    return row


def store_feed(blobs: BlobStore, settings: Settings, content: Iterable[bytes],
               declared_bytes: int | None = None) -> tuple[str, int, FeedShape]:
    """Stream a feed file into the blob store (hashed as it arrives, refused with a 413 as soon as it
    passes ``[sharing] max_file_bytes``; a broken stream leaves nothing), then inspect it; a file
    refused by the inspection is taken back out of the store."""
    from qianshu.registry.service import store_upload

    limit = settings.section(SharingSettings).max_file_bytes
    digest, size = store_upload(blobs, _bounded_lines(content), limit, field="file", declared_bytes=declared_bytes)
    try:
        return digest, size, inspect_feed(blobs, digest)
    except BaseException:
        blobs.discard_new(digest)
        raise


def upload_file(db: Session, actor: Actor, blobs: BlobStore, settings: Settings, resource_id: int,
                filename: str, content: Iterable[bytes], as_of: date) -> SharingFile:
    """A new version of the resource's feed: a UTF-8 CSV whose header names the resource's fields
    (the portal's form and the demo; the API streams through :func:`store_feed` and
    :func:`record_file` itself, no transaction open while the bytes arrive)."""
    resource_for_upload(db, actor, resource_id)
    file_name(filename)
    digest, size, shape = store_feed(blobs, settings, content)
    try:
        return record_file(db, actor, resource_id, filename, digest, size, shape, as_of)
    except BaseException:
        blobs.discard_new(digest)
        raise


def resource_files(db: Session, resource_id: int) -> list[SharingFile]:
    return list(db.scalars(select(SharingFile).where(SharingFile.resource_id == resource_id)
                           .order_by(SharingFile.version.desc())))


def coverage(db: Session, resource_ids: list[int]) -> dict[int, tuple[date, date]]:
    """Resource → the first and last as-of dates of its published files."""
    if not resource_ids:
        return {}
    rows = db.execute(select(SharingFile.resource_id, func.min(SharingFile.as_of), func.max(SharingFile.as_of))
                      .where(SharingFile.resource_id.in_(resource_ids)).group_by(SharingFile.resource_id))
    return {rid: (first, last) for rid, first, last in rows}


def granted_files(db: Session, actor: Actor, request_id: int) -> tuple[SharingRequest, list[SharingFile]]:
    """The grant and the feed versions in its period (the data's as-of date within it)."""
    row = load_request(db, actor, request_id)
    if not grants.in_force(row) or row.granted_start is None or row.granted_end is None:
        return row, []
    files = [f for f in resource_files(db, row.resource_id) if row.granted_start <= f.as_of <= row.granted_end]
    return row, files


def _grant(db: Session, actor: Actor, request_id: int) -> SharingRequest:
    """The grant, for a use by its requester (``grants.begin_use`` then checks it is in force)."""
    return load_request(db, actor, request_id, "sharing.grant.use")


def _record_access(db: Session, actor: Actor, row: SharingRequest, kind: str, file_id: int | None,
                   **detail: Any) -> None:
    db.add(SharingAccess(request_id=row.id, owner_org_id=row.owner_org_id, grantee_org_id=row.requester_org_id,
                         user_id=actor.user_id, kind=kind, file_id=file_id, detail=detail))
    audit.record(db, actor, f"sharing.access.{kind}", target_type="sharing_request", target_id=row.id,
                 target_org_id=row.owner_org_id, file_id=file_id, **detail)


def _filtered_rows(stream: BinaryIO, fields: list[str]) -> Iterator[list[str]]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    header = [h.strip() for h in next(reader, [])]
    keep = [header.index(f) for f in fields if f in header]
    yield [header[i] for i in keep]
    for record in reader:
        yield [record[i] if i < len(record) else "" for i in keep]


@dataclass
class Download:
    filename: str
    body: bytes


@dataclass(frozen=True)
class Delivered:
    """A feed version a grantee's platform received through its grant: the file (version, as-of
    date) and what was written (granted columns only), stored as the blob of this SHA-256."""

    file: SharingFile
    fields: list[str]
    sha256: str
    size: int


def _use_file(db: Session, actor: Actor, request_id: int, file_id: int) -> tuple[SharingRequest, SharingFile]:
    """Begin a use of the grant for one of its feed versions: refused (409) unless the grant is in
    force, 404 when the version is not in the granted period."""
    row = _grant(db, actor, request_id)
    grants.begin_use(db, row)
    _request, files = granted_files(db, actor, request_id)
    found = next((f for f in files if f.id == file_id), None)
    if found is None:
        raise NotFound("File {id} is not part of this grant.", id=file_id)
    return row, found


def download(db: Session, actor: Actor, blobs: BlobStore, request_id: int, file_id: int) -> Download:
    """One feed version as CSV with only the granted fields; audited and in the owner's access log."""
    row, found = _use_file(db, actor, request_id, file_id)
    out = io.StringIO()
    writer = csv.writer(out)
    with blobs.open(found.digest) as stream:
        writer.writerows(_filtered_rows(stream, list(row.granted_fields)))
    body = out.getvalue().encode("utf-8")
    _record_access(db, actor, row, "download", found.id, version=found.version, fields=list(row.granted_fields),
                   sha256=hashlib.sha256(body).hexdigest())
    return Download(f"{Path(found.filename).stem}-v{found.version}-granted.csv", body)


def deliver_file(db: Session, actor: Actor, blobs: BlobStore, request_id: int, file_id: int,
                 work: Path) -> Delivered:
    """One feed version (UTF-8 CSV, only the granted fields, written in the folder ``work``) stored
    in the blob store for the grantee's platform that receives the grant's feed (monitoring's feeds
    through sharing): the same grant checks as a download (in force, the version in the granted
    period), audited and in the owner's access log as a ``feed`` access."""
    row, found = _use_file(db, actor, request_id, file_id)
    fields = list(row.granted_fields)
    target = work / "feed.csv"
    with blobs.open(found.digest) as stream, target.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(_filtered_rows(stream, fields))
    digest, size = blobs.put_file(target)  # hashed once, as it is stored
    delivered = Delivered(found, fields, digest, size)
    _record_access(db, actor, row, "feed", found.id, version=found.version, fields=fields,
                   sha256=delivered.sha256)
    return delivered


def feed_file(db: Session, file_id: int) -> SharingFile | None:
    """A published feed version (for a grantee deciding what it receives; no data in it)."""
    return db.get(SharingFile, file_id)


def latest_granted_file(db: Session, actor: Actor, request_id: int) -> SharingFile | None:
    """The newest feed version in the grant's period (None: none, or the grant not in force)."""
    files = granted_files(db, actor, request_id)[1]
    return files[0] if files else None


def feed_grant_ids(db: Session, resource_id: int) -> list[int]:
    """The feed grants (requests for feed access) of a resource, in force or not: a grantee's
    receiver decides which it takes, and the use itself is refused when the grant is not in force."""
    return list(db.scalars(select(SharingRequest.id).where(SharingRequest.resource_id == resource_id,
                                                           SharingRequest.access_type == "feed")
                           .order_by(SharingRequest.id)))


def sandbox_query(db: Session, actor: Actor, blobs: BlobStore, settings: Settings, request_id: int,
                  sql: str) -> Any:
    """A query over the grant's latest feed version in delivery's sandbox (usable but not visible):
    the table ``data`` has only the granted fields, typed as the resource declares them; answered
    under the owner's sandbox policy for the resource (k, allowed aggregates, differential privacy
    charged to the grant's budget)."""
    from qianshu.delivery import sandbox
    from qianshu.delivery.sandbox_privacy import PrivacyBudget

    row = _grant(db, actor, request_id)
    if row.access_type != "sandbox":
        raise Conflict("This grant is a feed, not a sandbox.", code="not_sandbox")
    resource = db.get_one(SharingResource, row.resource_id)
    rules = grants.SandboxRules.of(resource)
    grants.check_aggregates(sql, rules)
    spent_before = row.epsilon_spent
    grants.begin_use(db, row, epsilon=rules.epsilon or 0.0, budget=rules.budget)
    _request, files = granted_files(db, actor, request_id)
    if not files:
        raise Conflict("The owner has published no file in the granted period yet.", code="no_file")
    latest = files[0]
    types = {str(f["name"]): str(f["type"]) for f in resource.fields}
    parquet = _granted_parquet(blobs, settings, latest, list(row.granted_fields), types)
    engine_policy = sandbox.SandboxPolicy(k=rules.k, epsilon=rules.epsilon, bounds=dict(rules.bounds))
    budget = PrivacyBudget(rules.budget, spent_before) if rules.epsilon else None
    answer = sandbox.run_query(sql, {"data": [parquet]}, engine_policy, budget=budget)
    _record_access(db, actor, row, "query", latest.id, version=latest.version, sql=sql[:2000],
                   rows=len(answer.rows), epsilon=answer.epsilon)
    return answer


def _typed(values: list[str], kind: str) -> Any:
    """A column of the CSV as the resource declares it: integers and decimals as numbers (a value
    that is not one becomes empty), everything else as text."""
    import pyarrow as pa

    def number(text: str, convert: Any) -> Any:
        try:
            return convert(text.strip()) if text.strip() else None
        except ValueError:
            return None

    if kind == "integer":
        return pa.array([number(v, int) for v in values], pa.int64())
    if kind == "decimal":
        return pa.array([number(v, float) for v in values], pa.float64())
    return pa.array(values, pa.string())


def _granted_parquet(blobs: BlobStore, settings: Settings, found: SharingFile, fields: list[str],
                     types: dict[str, str] | None = None) -> Path:
    """The granted columns of a feed version as Parquet (cached by version, fields and types)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = types or {}
    signature = ",".join(f"{f}:{types.get(f, 'string')}" for f in fields)
    key = hashlib.sha256(f"{found.digest}:{signature}".encode()).hexdigest()[:32]
    folder = settings.data_dir / "sharing-sandbox"
    target = folder / f"{key}.parquet"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with blobs.open(found.digest) as stream:
        rows = list(_filtered_rows(stream, fields))
    header, body = rows[0], rows[1:]
    table = pa.table({name: _typed([r[i] for r in body], types.get(name, "string")) for i, name in enumerate(header)})
    partial = target.with_suffix(".part")
    pq.write_table(table, partial)
    partial.replace(target)
    return target


# --- the access log ----------------------------------------------------------------------------

def access_log(db: Session, actor: Actor, limit: int = 500) -> list[SharingAccess]:
    """Accesses to the actor's department's resources; the big-data bureau sees every one."""
    stmt = select(SharingAccess).order_by(SharingAccess.id.desc()).limit(limit)
    if policy.allows(actor, "sharing.supervise"):
        return list(db.scalars(stmt))
    policy.require(actor, "sharing.access.read", resource_of(actor.org_id or 0))
    return list(db.scalars(stmt.where(SharingAccess.owner_org_id == actor.org_id)))


# --- JSON --------------------------------------------------------------------------------------

def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def resource_json(r: SharingResource) -> dict[str, Any]:
    return {"id": r.id, "org_id": r.org_id, "code": r.code, "name_zh": r.name_zh, "name_en": r.name_en,
            "description_zh": r.description_zh, "description_en": r.description_en, "fields": r.fields,
            "update_frequency": r.update_frequency, "legal_basis": r.legal_basis,
            "sharing_class": r.sharing_class, "conditions": r.conditions,
            "sandbox_policy": grants.SandboxRules.of(r).json()}


def request_json(r: SharingRequest) -> dict[str, Any]:
    return {"id": r.id, "resource_id": r.resource_id, "owner_org_id": r.owner_org_id,
            "requester_org_id": r.requester_org_id, "purpose": r.purpose, "fields": r.fields,
            "period_start": _iso(r.period_start), "period_end": _iso(r.period_end), "access_type": r.access_type,
            "status": r.status, "due_on": _iso(r.due_on), "overdue": is_overdue(r),
            "due_on_unknown_calendar_years": deadline_unknown_years(r),
            "overdue_flagged_at": _iso(r.overdue_flagged_at), "granted_fields": r.granted_fields,
            "granted_start": _iso(r.granted_start), "granted_end": _iso(r.granted_end), "reason": r.reason,
            "created_at": _iso(r.created_at), "decided_at": _iso(r.decided_at), "expires_on": _iso(r.expires_on),
            "in_force": grants.in_force(r), "ended_at": _iso(r.ended_at), "end_reason": r.end_reason,
            "epsilon_spent": r.epsilon_spent, "last_used_at": _iso(r.last_used_at)}


def file_json(f: SharingFile) -> dict[str, Any]:
    return {"id": f.id, "version": f.version, "as_of": f.as_of.isoformat(), "filename": f.filename,
            "size": f.size, "rows": f.rows, "sha256": f.digest}


def access_json(a: SharingAccess) -> dict[str, Any]:
    return {"id": a.id, "request_id": a.request_id, "grantee_org_id": a.grantee_org_id, "user_id": a.user_id,
            "kind": a.kind, "file_id": a.file_id, "detail": a.detail, "at": _iso(a.at)}


def blob_in_use(db: Session, digest: str) -> bool:
    """Whether a published feed version keeps ``digest`` (the registry's orphan sweep keeps it)."""
    return db.scalar(select(SharingFile.id).where(SharingFile.digest == digest).limit(1)) is not None
