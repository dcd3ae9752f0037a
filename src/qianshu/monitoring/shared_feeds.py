"""Feeds through data sharing: a department's resource granted to the monitoring organisation as a
feed (sharing's request → decision → grant) arrives here, version by version, as a feed upload.

The requesting organisation declares, on its grant, which monitoring feed of which division the
grant carries (``receive_grant``: a feed grant of its own, in force, whose granted fields hold every
column the feed needs). From then on each new version the owner publishes (sharing's event
``sharing.file_published``) queues the job ``monitoring.shared_feed``, which takes the version
through the grant (``sharing.service.deliver_file``: refused unless the grant is in force and the
version's as-of date lies in the granted period; only the granted columns are written; audited and in
the owner's access log as a ``feed`` access) and records it as a ``monitoring_feed_uploads`` row
checked by the same job as an uploaded file (``feed_uploads.validate_upload_job`` → ``feeds.store_feed``:
the same validation, rejected rows, version). The feed's year is the version's as-of year.

One version arrives once per grant: the upload row of (grant, file) is unique and is written first,
so a second delivery of the same version (a retried job, two workers) finds it and does nothing,
and takes nothing through the grant. A delivery the grant refuses (revoked, expired, outside the
period) is recorded as a refused upload saying why.

The declaration can be withdrawn (``withdraw``, by the same people who may declare it, saying why):
the row stays, marked withdrawn with who and when, so the page and the API keep its history; no
version published afterwards is queued, a delivery still queued finds it withdrawn and takes
nothing, and the versions that came through it before stay. The grant's owner is told, in its
organisation's inbox. A delivery takes the declaration's row shared (PostgreSQL), so a withdrawal
waits for a delivery under way and a later delivery sees it.

A grant has at most one declaration in force (a unique index on the grant over the rows not
withdrawn): declaring a grant already received is 409 ``already_received``, also when two
declarations race (the second's insert fails on the index). Once withdrawn, the grant can be
declared again: a new row, through which the versions published afterwards arrive (the withdrawn
one stays withdrawn). A version that already arrived through the grant does not arrive again.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.core import audit, i18n, inbox, jobs, policy
from qianshu.core.actor import SYSTEM, Actor
from qianshu.core.blobs import BlobStore
from qianshu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, QianshuError
from qianshu.core.i18n import Label
from qianshu.core.policy import Resource, require
from qianshu.core.timeutil import local_display, utcnow
from qianshu.monitoring import feed_uploads, feeds
from qianshu.monitoring.dashboards import division_name
from qianshu.monitoring.feeds_files import COLUMNS
from qianshu.monitoring.models import FeedUpload, SharedFeed
from qianshu.sharing import grants
from qianshu.sharing import service as sharing
from qianshu.sharing.events import FeedFilePublished

JOB_KIND = "monitoring.shared_feed"
CAPABILITY = "monitoring"
WITHDRAWN = ("{org} withdrew the monitoring feed {feed} of {division} it received through your grant #{id} "
             "({resource}): {reason}")


def _already_received(db: Session, request_id: int) -> Conflict:
    """409 naming the grant's declaration in force (when it can be read: the one that won a race
    is read once committed)."""
    active = db.scalars(select(SharedFeed).where(SharedFeed.request_id == request_id,
                                                 SharedFeed.withdrawn_at.is_(None))).first()
    if active is None:
        return Conflict("This grant is already received as a monitoring feed.", field="request_id",
                        code="already_received")
    return Conflict("This grant is already received as the monitoring feed {feed} of {division} (#{id}); "
                    "withdraw that one to declare the grant again.", field="request_id", code="already_received",
                    feed=Label("monitoring feed", active.feed), division=active.division_code, id=active.id)


def receive_grant(db: Session, actor: Actor, request_id: int, feed: str, division: str) -> SharedFeed:
    """Declare the actor's organisation's feed grant ``request_id`` to be the monitoring feed ``feed``
    of ``division``; the newest version in the granted period is delivered at once. The feed and the
    division are checked (422) before who may send it is asked."""
    division = feeds.validate_feed_division(feed, division)
    feeds.require_upload(actor, division)
    grant = sharing.load_request(db, actor, request_id, "sharing.grant.use")
    if grant.access_type != "feed":
        raise Conflict("This grant is a sandbox, not a feed; it delivers no files.", field="request_id",
                       code="not_feed")
    if not grants.in_force(grant):
        raise Conflict("This grant is not in force ({status}); it delivers nothing.", field="request_id",
                       code="grant_not_active", status=Label("sharing request status", grant.status))
    missing = [c for c in COLUMNS[feed] if c not in grant.granted_fields]
    if missing:
        raise InvalidInput("The grant does not give the columns the feed {feed} needs: {columns}.", field="feed",
                           code="columns_not_granted", feed=Label("monitoring feed", feed),
                           columns=", ".join(missing))
    # one declaration in force per grant; a withdrawn one stays, as history, and does not count
    if db.scalar(select(SharedFeed.id).where(SharedFeed.request_id == grant.id,
                                             SharedFeed.withdrawn_at.is_(None))) is not None:
        raise _already_received(db, grant.id)
    row = SharedFeed(request_id=grant.id, feed=feed, division_code=division, org_id=actor.org_id,
                     created_by=actor.user_id)
    try:
        with db.begin_nested():
            db.add(row)
            db.flush()
    except IntegrityError as exc:  # a declaration of the same grant committed first (the index)
        raise _already_received(db, grant.id) from exc
    audit.record(db, actor, "monitoring.shared_feed.declared", target_type="monitoring_shared_feed",
                 target_id=row.id, sharing_request=grant.id, feed=feed, division=division)
    latest = sharing.latest_granted_file(db, actor, grant.id)
    if latest is not None:
        _queue(db, row, latest.id)
    return row


def withdraw(db: Session, actor: Actor, shared_feed_id: int, reason: str) -> SharedFeed:
    """Withdraw the declaration ``shared_feed_id``, saying why: by a user who may declare it (the
    grant is one of their organisation's, ``sharing.grant.use``; they may send the division's feeds,
    ``monitoring.feeds.upload``). Another organisation's declaration does not exist for them (404).
    Of two withdrawals at once one applies; the other gets 409 ``feed_withdrawn``."""
    row = db.get(SharedFeed, shared_feed_id)
    if row is None or row.org_id != actor.org_id:
        raise NotFound("Feed received through data sharing {id} does not exist.", id=shared_feed_id)
    grant = sharing.load_request(db, actor, row.request_id, "sharing.grant.use")
    feeds.require_upload(actor, row.division_code)
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Say why the feed is withdrawn.", field="reason", code="reason_required")
    # Only a declaration in force is withdrawn: the second of two withdrawals at once finds none
    # (PostgreSQL: it waits for the first's row lock, then reads the row as committed).
    result = db.execute(update(SharedFeed)
                        .where(SharedFeed.id == row.id, SharedFeed.withdrawn_at.is_(None))
                        .values(withdrawn_at=utcnow(), withdrawn_by=actor.user_id,
                                withdrawn_by_label=actor.display_name[:200], withdraw_reason=reason[:4000])
                        .execution_options(synchronize_session=False))
    db.refresh(row)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("This feed was already withdrawn, by {who} on {when}; nothing was changed.",
                       code="feed_withdrawn", who=row.withdrawn_by_label,
                       when=local_display(row.withdrawn_at))
    audit.record(db, actor, "monitoring.shared_feed.withdrawn", target_type="monitoring_shared_feed",
                 target_id=row.id, sharing_request=row.request_id, feed=row.feed, division=row.division_code,
                 reason=reason)
    resource = sharing.resources_by_id(db, [grant.resource_id])[grant.resource_id]
    org = accounts.organisation_by_id(db, grant.requester_org_id)
    inbox.notify(db, CAPABILITY, WITHDRAWN, org_id=grant.owner_org_id, subject=("sharing_request", grant.id),
                 link=f"/sharing/requests/{grant.id}", id=grant.id, reason=reason,
                 org_zh=org.name, org_en=org.name_en or org.name,
                 resource_zh=resource.name_zh, resource_en=resource.name_en,
                 feed_zh=i18n.label(row.feed, "monitoring feed", "zh"),
                 feed_en=i18n.label(row.feed, "monitoring feed", "en"),
                 division_zh=division_name(row.division_code, "zh"), division_en=division_name(row.division_code, "en"))
    return row


def shared_feeds(db: Session, actor: Actor) -> list[SharedFeed]:
    """The grants the actor's organisation receives as monitoring feeds, and those it received
    before it withdrew them."""
    require(actor, "monitoring.feeds.read", Resource(division=actor.jurisdiction or feeds.PROVINCE))
    return list(db.scalars(select(SharedFeed).where(SharedFeed.org_id == actor.org_id).order_by(SharedFeed.id)))


def receivable_grants(db: Session, actor: Actor) -> list[tuple[int, str]]:
    """The actor's organisation's feed grants in force that are not received as a feed (or whose
    declaration was withdrawn), with their resource's name (the portal's form offers them); none
    when it may not request data."""
    if not policy.allows(actor, "sharing.request.create"):
        return []
    taken = set(db.scalars(select(SharedFeed.request_id).where(SharedFeed.org_id == actor.org_id,
                                                               SharedFeed.withdrawn_at.is_(None))))
    rows = [r for r in sharing.list_requests(db, actor, "mine")
            if r.access_type == "feed" and grants.in_force(r) and r.id not in taken]
    names = sharing.resources_by_id(db, (r.resource_id for r in rows))
    return [(r.id, names[r.resource_id].name_zh) for r in rows]


def _queue(db: Session, row: SharedFeed, file_id: int) -> None:
    jobs.enqueue(db, JOB_KIND, {"shared_feed_id": row.id, "file_id": file_id}, org_id=row.org_id,
                 created_by=row.created_by)


def on_file_published(db: Session, event: FeedFilePublished) -> None:
    """``sharing.file_published`` (in the owner's transaction): queue the version's delivery to every
    grant of the resource received as a monitoring feed."""
    ids = sharing.feed_grant_ids(db, event.resource_id)
    if not ids:
        return
    for row in db.scalars(select(SharedFeed).where(SharedFeed.request_id.in_(ids), SharedFeed.withdrawn_at.is_(None))
                          .order_by(SharedFeed.id)):
        _queue(db, row, event.file_id)


def _receiver(db: Session, row: SharedFeed) -> Actor:
    """The user the grant was declared by, as they stand now (their organisation, role, jurisdiction);
    a user removed since is refused."""
    user = accounts.active_user_by_id(db, row.created_by)
    if user is None:
        raise PermissionDenied("The user who receives this feed is no longer active; declare the grant again.")
    return accounts.actor_for(user, via="system", ip=None)


def deliver(db: Session, blobs: BlobStore, shared_feed_id: int, file_id: int) -> FeedUpload | None:
    """Take one feed version through the grant and queue its check; None when it has already arrived
    (or is arriving) for this grant, or when the declaration has been withdrawn. A refusal of the
    grant is recorded on the upload."""
    # shared, not exclusive: deliveries do not wait for each other, a withdrawal waits for them
    row = db.scalars(select(SharedFeed).where(SharedFeed.id == shared_feed_id)
                     .with_for_update(read=True)).one()
    file = sharing.feed_file(db, file_id)
    if file is None or row.withdrawn_at is not None:
        return None
    upload = FeedUpload(feed=row.feed, year=file.as_of.year, division_code=row.division_code,
                        source_name=file.filename[:255], encoding="utf-8", source_digest="", size=0,
                        org_id=row.org_id, uploaded_by=row.created_by, sharing_request_id=row.request_id,
                        sharing_file_id=file.id, sharing_file_version=file.version)
    try:
        with db.begin_nested():
            db.add(upload)
            db.flush()
    except IntegrityError:
        return None  # delivered already, or by a transaction that committed first
    actor: Actor = SYSTEM  # until the receiving user is found
    with tempfile.TemporaryDirectory() as work:
        try:
            actor = _receiver(db, row)
            feeds.require_upload(actor, row.division_code)
            delivered = sharing.deliver_file(db, actor, blobs, row.request_id, file.id, Path(work))
        except QianshuError as exc:
            return feed_uploads.refuse(db, actor, upload.id, exc)
    upload.source_digest, upload.size = delivered.sha256, delivered.size
    return feed_uploads.queue_check(db, actor, upload)


def deliver_job(context: jobs.JobContext, job_id: int, progress: jobs.Progress) -> None:
    """``monitoring.shared_feed``: deliver one feed version to one grant received as a feed."""
    with context.database.unit_of_work() as db:
        payload = db.get_one(jobs.Job, job_id).payload
        deliver(db, context.blobs, int(payload["shared_feed_id"]), int(payload["file_id"]))
    progress(1.0, "done")
