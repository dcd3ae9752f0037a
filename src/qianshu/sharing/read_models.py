"""What the sharing pages show, each read by one function: the data and what the viewer may do with
it, decided by the permission policy (``core.policy``) together with the state the services check
(a request is decided while pending, a grant revoked while granted, a longer grant asked for while
it is in force and none waits), so that a page offers a control only when using it would not be
refused. The portal (``pages.py``, ``resource_pages.py``) renders these.

The pages read no personal data: a grant's rows leave only through a download or a sandbox query,
each audited and in the owner's access log (``service.download``, ``service.sandbox_query``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.core import policy
from qianshu.core.actor import Actor
from qianshu.sharing import appeal_parts, appeals, grants, service
from qianshu.sharing.models import (
    GRANTED_STATUSES,
    SharingAppeal,
    SharingExtension,
    SharingFile,
    SharingRequest,
    SharingResource,
)
from qianshu.sharing.permissions import request_resource, resource_of


@dataclass(frozen=True)
class CatalogueView:
    resources: list[SharingResource]
    orgs: dict[int, Any]  # the publishing departments by id
    may_publish: bool  # publish a resource of one's own department (``sharing.resource.publish``)


def catalogue(db: Session, actor: Actor, query: str = "", sharing_class: str = "") -> CatalogueView:
    """Every department's published resources matching ``query`` and ``sharing_class`` (government
    departments and the bureau only: ``sharing.catalogue.read``)."""
    rows = service.list_resources(db, actor, query=query, sharing_class=sharing_class)
    return CatalogueView(rows, accounts.organisations_by_id(db, {r.org_id for r in rows}),
                         policy.allows(actor, "sharing.resource.publish", resource_of(actor.org_id or 0)))


@dataclass(frozen=True)
class ResourceView:
    resource: SharingResource
    owner: Any  # the publishing department
    files: list[SharingFile]  # its feed versions, for its own department only
    sandbox: grants.SandboxRules
    numeric: list[str]  # the fields that may have bounds (integers and decimals)
    may_request: bool  # request it: shared, another department's (``sharing.request.create``)
    # upload a feed version, set the sandbox policy, change the resource (``sharing.file.upload``: its department)
    may_upload: bool


def resource_view(db: Session, actor: Actor, resource_id: int) -> ResourceView:
    """A published resource, with the request form for other departments and, for its own, the
    feed versions and the forms that keep it."""
    resource = service.get_resource(db, actor, resource_id)
    own = policy.allows(actor, "sharing.file.upload", resource_of(resource.org_id))
    return ResourceView(
        resource, accounts.organisation_by_id(db, resource.org_id),
        service.resource_files(db, resource.id) if own else [], grants.SandboxRules.of(resource),
        [str(f["name"]) for f in resource.fields if f["type"] in grants.NUMERIC_TYPES],
        may_request=(resource.sharing_class != "not_shared" and resource.org_id != actor.org_id
                     and policy.allows(actor, "sharing.request.create")),
        may_upload=own)


@dataclass(frozen=True)
class RequestsView:
    box: str  # "incoming", "mine" or "all"
    requests: list[SharingRequest]
    resources: dict[int, SharingResource]
    orgs: dict[int, Any]  # the owning and requesting departments by id
    appeals: dict[int, SharingAppeal]  # by request id
    may_supervise: bool  # open the box of every department's requests, "all" (the bureau: ``sharing.supervise``)


def requests_box(db: Session, actor: Actor, box: str) -> RequestsView:
    """One box of requests (``service.list_requests``: "all" is the bureau's only)."""
    rows = service.list_requests(db, actor, box)
    return RequestsView(
        box, rows, service.resources_by_id(db, (r.resource_id for r in rows)),
        accounts.organisations_by_id(db, {o for r in rows for o in (r.owner_org_id, r.requester_org_id)}),
        appeals.appeals_by_request(db, [r.id for r in rows]), policy.allows(actor, "sharing.supervise"))


@dataclass(frozen=True)
class RequestView:
    row: SharingRequest
    resource: SharingResource
    orgs: dict[int, Any]  # the two departments by id
    files: list[SharingFile]  # the feed versions in the granted period, while the grant is in force
    overdue: bool
    in_force: bool
    appeal: SharingAppeal | None
    appealed: appeal_parts.Parts | None  # what the appeal asks back
    left_out: list[str]  # the fields an appeal may ask back
    extensions: list[SharingExtension]
    timeline: list[appeals.Step]
    may_decide: bool  # the owner, while pending
    may_use: bool  # the requester, while the grant is in force: the grant's section (files, the sandbox query)
    may_revoke: bool  # the owner, while granted
    may_appeal: bool  # the requester, once, after a narrowing or a rejection
    may_decide_appeal: bool  # the bureau, while the appeal is pending
    may_ask_extension: bool  # the requester, while the grant is in force and no longer grant waits
    extension_to_decide: SharingExtension | None  # the longer grant asked for, to its owner
    # the years a pending request's deadline reaches whose official holidays the calendar lacks
    deadline_unknown_years: tuple[int, ...] = ()


def request_view(db: Session, actor: Actor, request_id: int) -> RequestView:
    """A request or grant as its two departments and the bureau see it (anyone else: 404)."""
    row, files = service.granted_files(db, actor, request_id)
    res = request_resource(row.owner_org_id, row.requester_org_id)
    live = grants.in_force(row)
    appeal = appeals.appeal_of(db, row.id)
    extensions = appeals.extensions_of(db, row.id)
    pending = next((e for e in extensions if e.status == "pending"), None)
    return RequestView(
        row, db.get_one(SharingResource, row.resource_id),
        accounts.organisations_by_id(db, {row.owner_org_id, row.requester_org_id}), files, service.is_overdue(row),
        live, appeal, appeal_parts.appealed(appeal, row) if appeal else None,
        [f for f in row.fields if row.status != "narrowed" or f not in row.granted_fields], extensions,
        appeals.timeline(db, row),
        may_decide=row.status == "pending" and policy.allows(actor, "sharing.request.decide", res),
        may_use=live and policy.allows(actor, "sharing.grant.use", res),
        may_revoke=row.status in GRANTED_STATUSES and policy.allows(actor, "sharing.grant.revoke", res),
        may_appeal=(appeal is None and row.status in appeals.APPEALABLE
                    and policy.allows(actor, "sharing.appeal.create", res)),
        may_decide_appeal=(appeal is not None and appeal.status == "pending"
                           and policy.allows(actor, "sharing.appeal.decide", res)),
        may_ask_extension=live and pending is None and policy.allows(actor, "sharing.extension.ask", res),
        extension_to_decide=pending if policy.allows(actor, "sharing.extension.decide", res) else None,
        deadline_unknown_years=tuple(service.deadline_unknown_years(row)))


@dataclass(frozen=True)
class ResourceEditor:
    """The form a department publishes a data resource with, or changes one of its own with."""

    resource: SharingResource | None = None  # the resource to change; None: a new one


def resource_editor(db: Session, actor: Actor, resource_id: int | None = None) -> ResourceEditor:
    """The form for a department that may publish (anyone else: 403, as ``publish_resource`` would
    answer); with ``resource_id``, that resource, which must be the viewer's department's (another
    department's: 403; one that does not exist: 404)."""
    if resource_id is None:
        policy.require(actor, "sharing.resource.publish", resource_of(actor.org_id or 0))
        return ResourceEditor()
    resource = service.get_resource(db, actor, resource_id)
    policy.require(actor, "sharing.resource.publish", resource_of(resource.org_id))
    return ResourceEditor(resource)
