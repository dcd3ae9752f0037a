"""Sharing routes by role. Government departments and the big-data bureau read the catalogue and
request data; only a resource's department uploads its files and decides its requests; only the
requesting department uses a grant; the owner and the bureau see the access log. The rows' objects
are owned by (or requested by) the acting organisation when it has one, so every relation is tried."""

from __future__ import annotations

import datetime as dt
from typing import Any

from qianshu.core.actor import Actor
from qianshu.core.blobs import open_blob_store
from qianshu.sharing.models import (
    GRANTED_STATUSES,
    SharingAppeal,
    SharingExtension,
    SharingFile,
    SharingRequest,
    SharingResource,
)
from qianshu.sharing.permissions import request_resource, resource_of
from tests.permission_support import Row

FIELDS = [{"name": "resident_id", "type": "string", "meaning_zh": "公民身份号码", "meaning_en": "Resident ID"},
          {"name": "grade", "type": "integer", "meaning_zh": "等级", "meaning_en": "Grade"}]
CSV = "resident_id,grade\n" + "".join(f"52010219900101{i:04d},{i % 2}\n" for i in range(30))
OWN, INCOMING, OUTGOING, SANDBOX = "own_resource", "incoming_request", "outgoing_request", "sandbox_request"
APPEALED = "appealed_request"  # between two other departments: only the bureau decides its appeal


def _resource(c: dict[str, Any]) -> dict[str, Any]:
    return {"resource_id": c["own_resource"]}


def _request(key: str) -> Any:
    return lambda c: {"request_id": c[key]}


REQUEST_BODY = {"purpose": "防返贫监测", "fields": ["resident_id"], "period_start": "2026-01-01",
                "period_end": "2026-12-31"}
DECISION = {"decision": "reject", "reason": "不符合共享条件"}

ROWS = {
    ("GET", "/api/v1/sharing/resources"): Row(action="sharing.catalogue.read"),
    ("POST", "/api/v1/sharing/resources"): Row(body=lambda c: {
        "code": "matrix", "name_zh": "矩阵资源", "fields": FIELDS, "update_frequency": "monthly",
        "legal_basis": "依据", "sharing_class": "unconditional"}, action="sharing.resource.publish", on="actor_org"),
    ("GET", "/api/v1/sharing/resources/{resource_id}"): Row(params=_resource, action="sharing.catalogue.read"),
    ("PUT", "/api/v1/sharing/resources/{resource_id}/files/{name}"): Row(
        params=lambda c: {"resource_id": c["own_resource"], "name": "feed.csv"}, query="?as_of=2026-06-30",
        action="sharing.file.upload", on=OWN),
    ("PUT", "/api/v1/sharing/resources/{resource_id}/sandbox-policy"): Row(
        params=_resource, body=lambda c: {"k": 12}, action="sharing.resource.publish", on=OWN),
    ("POST", "/api/v1/sharing/requests/{request_id}/revoke"): Row(
        params=_request("incoming_grant"), body=lambda c: {"reason": "停止共享"}, action="sharing.grant.revoke",
        on=INCOMING),
    ("GET", "/api/v1/sharing/dcat.jsonld"): Row(action="sharing.catalogue.read"),
    ("GET", "/api/v1/sharing/dcat.ttl"): Row(action="sharing.catalogue.read"),
    ("POST", "/api/v1/sharing/requests"): Row(body=lambda c: {"resource_id": c["other_resource"], **REQUEST_BODY},
                                              action="sharing.request.create"),
    ("GET", "/api/v1/sharing/requests"): Row(action="sharing.request.create"),
    ("GET", "/api/v1/sharing/requests/{request_id}"): Row(params=_request(OUTGOING), action="sharing.request.read",
                                                          on=OUTGOING),
    ("POST", "/api/v1/sharing/requests/{request_id}/decision"): Row(
        params=_request("incoming_api"), body=lambda c: DECISION, action="sharing.request.decide", on=INCOMING),
    ("GET", "/api/v1/sharing/requests/{request_id}/files/{file_id}"): Row(
        params=lambda c: {"request_id": c[OUTGOING], "file_id": c["granted_file"]}, action="sharing.grant.use",
        on=OUTGOING),
    ("POST", "/api/v1/sharing/requests/{request_id}/query"): Row(
        params=_request(SANDBOX), body=lambda c: {"sql": "SELECT grade, COUNT(*) AS n FROM data GROUP BY grade"},
        action="sharing.grant.use", on=SANDBOX),
    ("GET", "/api/v1/sharing/accesses"): Row(action="sharing.access.read|sharing.supervise", on="actor_org"),
    ("GET", "/sharing"): Row(action="sharing.catalogue.read"),
    ("GET", "/sharing/resources/{resource_id:int}"): Row(params=_resource, action="sharing.catalogue.read"),
    ("POST", "/sharing/resources/{resource_id:int}/files"): Row(params=_resource, body=lambda c: {"as_of": "x"},
                                                                action="sharing.file.upload", on=OWN),
    ("POST", "/sharing/requests"): Row(body=lambda c: {"resource_id": c["other_resource"], **REQUEST_BODY,
                                                       "fields": "resident_id"}, action="sharing.request.create"),
    ("GET", "/sharing/requests"): Row(action="sharing.request.create"),
    ("GET", "/sharing/requests/{request_id:int}"): Row(params=_request(OUTGOING), action="sharing.request.read",
                                                       on=OUTGOING),
    ("POST", "/sharing/requests/{request_id:int}/decision"): Row(
        params=_request("incoming_page"), body=lambda c: DECISION, action="sharing.request.decide", on=INCOMING),
    ("GET", "/sharing/requests/{request_id:int}/files/{file_id:int}"): Row(
        params=lambda c: {"request_id": c[OUTGOING], "file_id": c["granted_file"]}, action="sharing.grant.use",
        on=OUTGOING),
    ("POST", "/sharing/requests/{request_id:int}/query"): Row(
        params=_request(SANDBOX), body=lambda c: {"sql": "SELECT grade, COUNT(*) AS n FROM data GROUP BY grade"},
        action="sharing.grant.use", on=SANDBOX),
    ("GET", "/sharing/accesses"): Row(action="sharing.access.read|sharing.supervise", on="actor_org"),
    ("GET", "/sharing/resources/new"): Row(action="sharing.resource.publish", on="actor_org"),
    ("GET", "/sharing/resources/{resource_id:int}/edit"): Row(params=_resource, action="sharing.resource.publish",
                                                              on=OWN),
    ("POST", "/sharing/resources"): Row(body=lambda c: {
        "code": "matrix", "name_zh": "矩阵资源", "fields.0.name": "grade", "fields.0.type": "integer",
        "fields.0.meaning_zh": "等级", "update_frequency": "monthly", "legal_basis": "依据",
        "sharing_class": "unconditional"}, action="sharing.resource.publish", on="actor_org"),
    ("POST", "/sharing/resources/{resource_id:int}/sandbox-policy"): Row(
        params=_resource, body=lambda c: {"k": "12", "aggregates": "count", "budget": "10"},
        action="sharing.resource.publish", on=OWN),
    ("POST", "/sharing/requests/{request_id:int}/revoke"): Row(
        params=_request("incoming_grant"), body=lambda c: {"reason": "停止共享"}, action="sharing.grant.revoke",
        on=INCOMING),
    ("POST", "/api/v1/sharing/requests/{request_id}/appeal"): Row(
        params=_request("rejected_api"), body=lambda c: {"reason": "确有需要"}, action="sharing.appeal.create",
        on=OUTGOING),
    ("POST", "/sharing/requests/{request_id:int}/appeal"): Row(
        params=_request("rejected_page"), body=lambda c: {"reason": "确有需要"}, action="sharing.appeal.create",
        on=OUTGOING),
    ("POST", "/api/v1/sharing/requests/{request_id}/appeal/decision"): Row(
        params=_request("appealed_api"), body=lambda c: {"decision": "uphold", "reason": "维持"},
        action="sharing.appeal.decide", on=APPEALED),
    ("POST", "/sharing/requests/{request_id:int}/appeal/decision"): Row(
        params=_request("appealed_page"), body=lambda c: {"decision": "uphold", "reason": "维持"},
        action="sharing.appeal.decide", on=APPEALED),
    ("POST", "/api/v1/sharing/requests/{request_id}/extensions"): Row(
        params=_request("extend_api"), body=lambda c: {"until": "2100-06-30", "reason": "继续监测"},
        action="sharing.extension.ask", on=OUTGOING),
    ("POST", "/sharing/requests/{request_id:int}/extensions"): Row(
        params=_request("extend_page"), body=lambda c: {"until": "2100-06-30", "reason": "继续监测"},
        action="sharing.extension.ask", on=OUTGOING),
    ("POST", "/api/v1/sharing/requests/{request_id}/extensions/{extension_id}/decision"): Row(
        params=lambda c: {"request_id": c["extended_api"][0], "extension_id": c["extended_api"][1]},
        body=lambda c: {"decision": "approve"}, action="sharing.extension.decide", on=INCOMING),
    ("POST", "/sharing/requests/{request_id:int}/extensions/{extension_id:int}/decision"): Row(
        params=lambda c: {"request_id": c["extended_page"][0], "extension_id": c["extended_page"][1]},
        body=lambda c: {"decision": "approve"}, action="sharing.extension.decide", on=INCOMING),
}


def setup(ctx: dict[str, Any], db: Any, make: Any, actor: Actor | None, env: dict[str, Any]) -> None:
    settings = env["settings"]
    acting_org = actor.org_id if actor is not None and not actor.is_staff else None
    elsewhere = make.org(org_type="government").id
    third = make.org(org_type="government").id
    me = acting_org or elsewhere

    def resource(owner: int, code: str, cls: str = "conditional") -> SharingResource:
        row = SharingResource(org_id=owner, code=code, name_zh=code, fields=FIELDS, update_frequency="monthly",
                              legal_basis="依据", sharing_class=cls, conditions="条件")
        db.add(row)
        db.flush()
        return row

    own = resource(me, "own")
    other = resource(elsewhere if me != elsewhere else third, "other")
    digest, size = open_blob_store(settings).put_stream([CSV.encode()])
    granted = SharingFile(resource_id=other.id, version=1, as_of=dt.date(2026, 6, 30), filename="f.csv",
                          digest=digest, size=size, rows=30)
    db.add(granted)
    db.flush()
    start, end = dt.date(2026, 1, 1), dt.date(2026, 12, 31)

    def request(resource_row: SharingResource, requester: int, status: str, access: str = "feed") -> int:
        row = SharingRequest(resource_id=resource_row.id, owner_org_id=resource_row.org_id, requester_org_id=requester,
                             purpose="p", fields=["resident_id", "grade"], period_start=start, period_end=end,
                             access_type=access, status=status, due_on=dt.date(2026, 12, 31))
        if status in GRANTED_STATUSES:
            row.granted_fields, row.granted_start, row.granted_end = ["resident_id", "grade"], start, end
            row.expires_on = dt.date(2099, 12, 31)
        db.add(row)
        db.flush()
        return row.id

    def appealed(owner_resource: SharingResource, requester: int) -> int:
        request_id = request(owner_resource, requester, "rejected")
        db.add(SharingAppeal(request_id=request_id, appealed_status="rejected", reason="r"))
        db.flush()
        return request_id

    def extended(requester: int) -> tuple[int, int]:
        request_id = request(own, requester, "approved")
        extension = SharingExtension(request_id=request_id, ends_on=dt.date(2099, 12, 31),
                                     asked_until=dt.date(2100, 6, 30), reason="r")
        db.add(extension)
        db.flush()
        return request_id, extension.id

    fourth = make.org(org_type="government").id

    ctx.update(own_resource=own.id, other_resource=other.id, granted_file=granted.id,
               incoming_api=request(own, third, "pending"), incoming_page=request(own, third, "pending"),
               incoming_grant=request(own, third, "approved"),
               outgoing_request=request(other, me, "approved"),
               sandbox_request=request(other, me, "approved", "sandbox"),
               rejected_api=request(other, me, "rejected"), rejected_page=request(other, me, "rejected"),
               appealed_api=appealed(other, fourth), appealed_page=appealed(other, fourth),
               extend_api=request(other, me, "approved"), extend_page=request(other, me, "approved"),
               extended_api=extended(third), extended_page=extended(third))
    ctx["res"][APPEALED] = request_resource(other.org_id, fourth)
    ctx["res"][OWN] = resource_of(me)
    ctx["res"][INCOMING] = request_resource(me, third)
    ctx["res"][OUTGOING] = request_resource(other.org_id, me)
    ctx["res"][SANDBOX] = request_resource(other.org_id, me)
