"""REST routes of government data sharing, under /api/v1/sharing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any, BinaryIO

import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from qianshu.accounts.deps import SignedInActor, load_actor
from qianshu.core.blobs import CHUNK, open_blob_store
from qianshu.core.body_rules import BodyRule
from qianshu.core.http import AppSettings, DbSession, WriteDbSession, body_chunks, get_database
from qianshu.core.openapi import SIGNED_IN, JsonLdResponse, TurtleResponse, body_of, problems
from qianshu.core.settings import Settings
from qianshu.sharing import appeals, dcat, grants, schemas, service
from qianshu.sharing.settings import SharingSettings

router = APIRouter(prefix="/api/v1/sharing", tags=["sharing"])
JSONLD = "application/ld+json"
TURTLE = "text/turtle; charset=utf-8"


def chunks(stream: BinaryIO) -> Iterator[bytes]:
    while block := stream.read(CHUNK):
        yield block


def _file_limit(settings: Settings) -> int:
    return settings.section(SharingSettings).max_file_bytes


# A feed file streams into the blob store outside any transaction (``upload_file``), bounded while
# it is read (core/body_rules.py).
BODY_RULES = [BodyRule("PUT", r"/api/v1/sharing/resources/[^/]+/files/.+", _file_limit, stream=True)]
FEED_BODY = {**body_of("text/csv", "The feed file, as it is (not a form): a UTF-8 CSV whose header names fields "
                                   "of the resource.", {"type": "string", "format": "binary"}),
             "security": SIGNED_IN}


@router.get("/resources", summary="The government data resource catalogue", responses=problems(401, 403))
def list_resources(db: DbSession, actor: SignedInActor, q: Annotated[str, Query(max_length=100)] = "",
                   org_id: int | None = None) -> list[dict[str, Any]]:
    return [service.resource_json(r) for r in service.list_resources(db, actor, org_id=org_id, query=q)]


@router.post("/resources", status_code=201, summary="Publish (or change) one of your department's resources",
             responses=problems(401, 403, 422))
def publish_resource(data: schemas.ResourceIn, db: DbSession, actor: SignedInActor) -> dict[str, Any]:
    return service.resource_json(service.publish_resource(db, actor, data))


@router.get("/resources/{resource_id}", summary="A resource's metadata", responses=problems(401, 403, 404))
def get_resource(resource_id: int, db: DbSession, actor: SignedInActor) -> dict[str, Any]:
    return service.resource_json(service.get_resource(db, actor, resource_id))


@router.put("/resources/{resource_id}/sandbox-policy", summary="Set the resource's sandbox policy (its owner)",
            responses=problems(401, 403, 404, 422))
def put_sandbox_policy(resource_id: int, data: schemas.SandboxPolicyIn, db: DbSession,
                       actor: SignedInActor) -> dict[str, Any]:
    """k (the smallest group shown), the aggregates allowed, and differential privacy (epsilon per
    query, the budget of each grant, the bounds of numeric fields) for the resource's sandbox grants."""
    resource = service.get_resource(db, actor, resource_id)
    return service.resource_json(grants.set_sandbox_policy(db, actor, resource, data))


@router.put("/resources/{resource_id}/files/{name}", status_code=201,
            summary="Upload a new version of the resource's feed (the body: a UTF-8 CSV)",
            responses=problems(401, 403, 404, 413, 422), openapi_extra=FEED_BODY)
async def upload_file(resource_id: int, name: str, request: Request, settings: AppSettings,
                      as_of: Annotated[date, Query(description="The date the file's data is as of")]) -> Response:
    """The body is streamed into the blob store in chunks, hashed as it arrives and refused (413) as
    soon as it passes ``[sharing] max_file_bytes``, with no transaction open while it arrives; it is
    then read back once (UTF-8, a CSV with a header) and recorded in a short transaction. A refused
    file, an over-limit body or a client that goes away leaves nothing in the store."""
    database = get_database(request)
    actor = await load_actor(request)

    def may_they() -> None:  # a short transaction: may they upload to this resource?
        with database.unit_of_work() as db:
            service.resource_for_upload(db, actor, resource_id)
            service.file_name(name)

    await run_in_threadpool(may_they)
    blobs = open_blob_store(settings)
    declared = request.headers.get("content-length", "")
    try:
        digest, size, shape = await anyio.to_thread.run_sync(lambda: service.store_feed(
            blobs, settings, body_chunks(request), int(declared) if declared.isdigit() else None))
    except ClientDisconnect:
        return Response(status_code=499)

    def record() -> dict[str, Any]:
        with database.unit_of_work() as db:
            return service.file_json(service.record_file(db, actor, resource_id, name, digest, size, shape, as_of))

    try:
        answer = await run_in_threadpool(record)
    except BaseException:
        blobs.discard_new(digest)
        raise
    return JSONResponse(answer, status_code=201)


@router.get("/dcat.jsonld", summary="Export the government catalogue as DCAT-AP JSON-LD",
            response_class=JsonLdResponse, responses=problems(401, 403))
def dcat_jsonld(request: Request, db: DbSession, actor: SignedInActor, settings: AppSettings) -> Response:
    return JSONResponse(dcat.catalogue_jsonld(db, actor, settings.public_base), media_type=JSONLD)


@router.get("/dcat.ttl", summary="Export the government catalogue as DCAT-AP Turtle",
            response_class=TurtleResponse, responses=problems(401, 403))
def dcat_turtle(db: DbSession, actor: SignedInActor, settings: AppSettings) -> Response:
    return Response(dcat.to_turtle(dcat.catalogue_jsonld(db, actor, settings.public_base)), media_type=TURTLE)


@router.post("/requests", status_code=201, summary="Request another department's resource",
             responses=problems(401, 403, 404, 409, 422))
def create_request(data: schemas.RequestIn, db: DbSession, actor: SignedInActor,
                   settings: AppSettings) -> dict[str, Any]:
    """Conditional resources wait for the owner (10 working days); unconditional ones are granted at
    once; not-shared ones are refused (409)."""
    return service.request_json(service.request_data(db, actor, settings, data))


@router.get("/requests", summary="Requests: incoming (for your resources), mine, or all (the bureau)",
            responses=problems(401, 403))
def list_requests(db: DbSession, actor: SignedInActor,
                  box: Annotated[str, Query(pattern="^(incoming|mine|all)$")] = "mine") -> list[dict[str, Any]]:
    return [service.request_json(r) for r in service.list_requests(db, actor, box)]


@router.get("/requests/{request_id}", summary="A request or grant, with its appeal, extensions and timeline",
            responses=problems(401, 403, 404))
def get_request(request_id: int, db: DbSession, actor: SignedInActor) -> dict[str, Any]:
    row, files = service.granted_files(db, actor, request_id)
    appeal = appeals.appeal_of(db, row.id)
    return dict(service.request_json(row), files=[service.file_json(f) for f in files],
                appeal=appeals.appeal_json(appeal, row) if appeal else None,
                extensions=[appeals.extension_json(e) for e in appeals.extensions_of(db, row.id)],
                timeline=[appeals.step_json(s) for s in appeals.timeline(db, row)])


@router.post("/requests/{request_id}/decision", summary="Approve, narrow or reject a request (the owner)",
             responses=problems(401, 403, 404, 409, 422))
def decide(request_id: int, data: schemas.DecisionIn, db: DbSession, actor: SignedInActor) -> dict[str, Any]:
    return service.request_json(service.decide_request(db, actor, request_id, data))


@router.post("/requests/{request_id}/revoke", summary="Revoke a grant, with a reason (the owner)",
             responses=problems(401, 403, 404, 409, 422))
def revoke(request_id: int, data: schemas.RevokeIn, db: DbSession, actor: SignedInActor) -> dict[str, Any]:
    """Downloads and sandbox queries stop at once; the requester is told. A grant already ended: 409."""
    row = service.load_request(db, actor, request_id, "sharing.grant.revoke")
    return service.request_json(grants.revoke(db, actor, row, data.reason))


@router.post("/requests/{request_id}/appeal", status_code=201,
             summary="Appeal a narrowing or rejection, or some of the fields or period left out, once (the requester)",
             responses=problems(401, 403, 404, 409, 422))
def appeal(request_id: int, data: schemas.AppealIn, db: DbSession, actor: SignedInActor) -> dict[str, Any]:
    """All that was left out (no parts named), or the ``fields`` asked back and the period asked for
    (``period_start`` … ``period_end``, within the one asked for and holding the one granted). The
    big-data bureau decides; it and the owner are told. Appealed already, or not narrowed or
    rejected: 409; a part that was not asked for, or nothing beyond the grant: 422."""
    row = service.load_request(db, actor, request_id, "sharing.appeal.create")
    return appeals.appeal_json(appeals.file_appeal(db, actor, row, data), row)


@router.post("/requests/{request_id}/appeal/decision",
             summary="Uphold the owner's decision, grant the appeal, or grant part of it (the big-data bureau)",
             responses=problems(401, 403, 404, 409, 422))
def decide_appeal(request_id: int, data: schemas.AppealDecisionIn, db: DbSession,
                  actor: SignedInActor) -> dict[str, Any]:
    """``grant_part`` grants some of the appealed ``fields`` and/or a period within the appealed one
    (a reason required); the request's access becomes the owner's grant plus this. Of two decisions
    at once one applies; the other gets 409 ``appeal_already_decided``."""
    row = service.load_request(db, actor, request_id, "sharing.appeal.decide")
    return appeals.appeal_json(appeals.decide_appeal(db, actor, row, data), row)


@router.post("/requests/{request_id}/extensions", status_code=201,
             summary="Ask for a later end date of a grant, before it ends (the grantee)",
             responses=problems(401, 403, 404, 409, 422))
def ask_extension(request_id: int, data: schemas.ExtensionIn, db: DbSession, actor: SignedInActor) -> dict[str, Any]:
    row = service.load_request(db, actor, request_id, "sharing.extension.ask")
    return appeals.extension_json(appeals.ask_extension(db, actor, row, data))


@router.post("/requests/{request_id}/extensions/{extension_id}/decision",
             summary="Approve (the new end date) or refuse (a reason) a longer grant (the owner)",
             responses=problems(401, 403, 404, 409, 422))
def decide_extension(request_id: int, extension_id: int, data: schemas.ExtensionDecisionIn, db: DbSession,
                     actor: SignedInActor) -> dict[str, Any]:
    """Of two decisions at once one applies; the other gets 409 ``extension_already_decided``."""
    row = service.load_request(db, actor, request_id, "sharing.extension.decide")
    return appeals.extension_json(appeals.decide_extension(db, actor, row, extension_id, data))


@router.get("/requests/{request_id}/files/{file_id}", summary="Download a granted feed version (granted fields only)",
            responses=problems(401, 403, 404, 409))
def download(request_id: int, file_id: int, db: WriteDbSession, actor: SignedInActor,
             settings: AppSettings) -> Response:
    found = service.download(db, actor, open_blob_store(settings), request_id, file_id)
    return Response(found.body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{found.filename}"'})


@router.post("/requests/{request_id}/query", summary="Query a sandbox grant (usable but not visible)",
             responses=problems(401, 403, 404, 409, 422))
def query(request_id: int, data: schemas.QueryIn, db: DbSession, actor: SignedInActor,
          settings: AppSettings) -> dict[str, Any]:
    answer = service.sandbox_query(db, actor, open_blob_store(settings), settings, request_id, data.sql)
    return {"columns": list(answer.columns), "rows": [list(r) for r in answer.rows],
            "suppressed_groups": answer.suppressed_groups}


@router.get("/accesses", summary="Who accessed your department's resources (the bureau: everyone's)",
            responses=problems(401, 403))
def accesses(db: DbSession, actor: SignedInActor) -> list[dict[str, Any]]:
    return [service.access_json(a) for a in service.access_log(db, actor)]
