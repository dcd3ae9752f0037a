"""Registration routes by role. Drafts are seen only by their holder and staff; public
notices, issued certificates and verification are public; reviewing needs a reviewer or
operator, issuing, revoking and deciding objections an operator; personal-data findings
only the holder, staff and service providers (the role users here belong to a data
merchant that does not hold the registration, so they are refused).

Supporting documents: the purchase contract is uploaded by the holder and downloaded by the
holder and staff; an objection's evidence is uploaded by whoever filed it and downloaded by the
objector, the holder and staff (the row's objection is a third party's, so only staff); a
report's document is uploaded by its service provider (no role here is one) and downloaded by
whoever may see the registration (it is in public notice: everyone)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from qianshu.core.actor import Actor
from qianshu.core.blobs import open_blob_store
from qianshu.core.signing import load_signer
from qianshu.registry import permissions, review, schemas, service
from qianshu.registry.models import Objection, ProviderReport, Registration
from tests.permission_support import EVERYONE, NOBODY, SIGNED_IN, STAFF, Row
from tests.registry.helpers import DECLARATION, process

REVIEWERS = frozenset({"operator", "reviewer"})
OPERATOR = frozenset({"operator"})
HOLDERS = frozenset({"member", "admin"})
OWN = lambda c: {"registration_id": c["own_draft"]}  # noqa: E731 - table of small lambdas
SUBMITTED = lambda c: {"registration_id": c["submitted"]}  # noqa: E731
NOTICE = lambda c: {"registration_id": c["notice"]}  # noqa: E731
REASON = lambda c: {"reason": "材料不全"}  # noqa: E731
REPORT = lambda c: {"kind": "compliance", "title": "合规评估", "conclusion": "合规"}  # noqa: E731

ROWS = {
    ("GET", "/api/v1/registrations/notices"): Row(EVERYONE, action="registration.public"),
    ("POST", "/api/v1/registrations/certificates/verify"): Row(EVERYONE, body=lambda c: c["certificate_json"],
        action="registration.public"),
    ("GET", "/api/v1/registrations/certificates/{number}"): Row(EVERYONE, params=lambda c: {"number": c["number"]},
        action="registration.public"),
    ("POST", "/api/v1/registrations"): Row(HOLDERS, body=lambda c: {"title_zh": "新登记", "title_en": "New"},
        action="registration.create"),
    ("GET", "/api/v1/registrations"): Row(SIGNED_IN, action="registration.list"),
    # A pending or suspended organisation may still read its own registrations (not change them).
    ("GET", "/api/v1/registrations/{registration_id}"): Row(STAFF | HOLDERS | {"pending_admin"}, params=OWN,
        # under review, in 520102: staff, service providers and caseworkers whose jurisdiction holds it
        also=(Row(params=SUBMITTED,
            action="registration.read|registration.assess", on="submitted"),),
        action="registration.read", on="own_draft"),
    ("PUT", "/api/v1/registrations/{registration_id}/files/{name}"): Row(
        HOLDERS, params=lambda c: {"registration_id": c["own_draft"], "name": "a.csv"},
            action="registration.edit", on="own_draft"),
    ("PUT", "/api/v1/registrations/{registration_id}/ingest-options/{file_id}"): Row(
        HOLDERS, params=lambda c: {"registration_id": c["own_draft"], "file_id": c["own_file"]},
        body=lambda c: {"keep_totals": True}, action="registration.edit", on="own_draft"),
    ("DELETE", "/api/v1/registrations/{registration_id}/files/{file_id}"): Row(
        HOLDERS, params=lambda c: {"registration_id": c["own_draft"], "file_id": c["own_file"]},
            action="registration.edit", on="own_draft"),
    ("POST", "/api/v1/registrations/{registration_id}/process"): Row(HOLDERS, params=OWN, body=lambda c: {},
        action="registration.edit", on="own_draft"),
    ("PUT", "/api/v1/registrations/{registration_id}/contract/{name:path}"): Row(
        HOLDERS, params=lambda c: {"registration_id": c["own_draft"], "name": "采购合同.pdf"},
            action="registration.edit", on="own_draft"),
    ("GET", "/api/v1/registrations/{registration_id}/contract"): Row(STAFF | HOLDERS | {"pending_admin"}, params=OWN,
        action=("registration.read", "registration.contract.read"), on="own_draft"),
    ("PUT", "/api/v1/registrations/objections/{objection_id}/evidence/{name:path}"): Row(
        SIGNED_IN, params=lambda c: {"objection_id": c["own_objection"], "name": "证据.jpg"},
            action=("objection.file", "objection.evidence.upload"), on="own_objection"),
    ("GET", "/api/v1/registrations/objections/{objection_id}/evidence"): Row(
        STAFF, params=lambda c: {"objection_id": c["evidence_objection"]},
            action="objection.evidence.read", on="evidence_objection"),
    ("PUT", "/api/v1/registrations/{registration_id}/reports/{report_id}/document/{name:path}"): Row(
        NOBODY, params=lambda c: {"registration_id": c["submitted"], "report_id": c["bare_report"], "name": "r.pdf"},
            action="report.document.upload", on="bare_report"),
    ("GET", "/api/v1/registrations/{registration_id}/reports/{report_id}/document"): Row(
        EVERYONE, params=lambda c: {"registration_id": c["notice"], "report_id": c["document_report"]},
            action="registration.read", on="notice"),
    ("GET", "/api/v1/registrations/{registration_id}/job"): Row(STAFF | HOLDERS | {"pending_admin"}, params=OWN,
        action="registration.read", on="own_draft"),
    ("PUT", "/api/v1/registrations/{registration_id}/declaration"): Row(
        HOLDERS, params=OWN, body=lambda c: DECLARATION.model_dump(mode="json"),
            action="registration.edit", on="own_draft"),
    ("POST", "/api/v1/registrations/{registration_id}/submit"): Row(HOLDERS, params=OWN, body=lambda c: {},
        action="registration.edit", on="own_draft"),
    ("GET", "/api/v1/registrations/{registration_id}/columns"): Row(EVERYONE, params=NOTICE,
        action="registration.read", on="notice"),
    ("GET", "/api/v1/registrations/{registration_id}/pii"): Row(STAFF, params=NOTICE,
        action=("registration.read", "registration.pii.read"), on="notice"),
    ("GET", "/api/v1/registrations/{registration_id}/quality"): Row(EVERYONE, params=NOTICE,
        action="registration.read", on="notice"),
    ("GET", "/api/v1/registrations/{registration_id}/history"): Row(EVERYONE, params=NOTICE,
        action="registration.read", on="notice"),
    ("POST", "/api/v1/registrations/{registration_id}/review/take"): Row(REVIEWERS, params=SUBMITTED,
                                                                          body=lambda c: {},
        action="registration.review"),
    ("POST", "/api/v1/registrations/{registration_id}/review/approve"): Row(REVIEWERS, params=SUBMITTED,
                                                                             body=lambda c: {},
        action="registration.review"),
    ("POST", "/api/v1/registrations/{registration_id}/review/return"): Row(REVIEWERS, params=SUBMITTED, body=REASON,
        action="registration.review"),
    ("POST", "/api/v1/registrations/{registration_id}/review/reject"): Row(REVIEWERS, params=SUBMITTED, body=REASON,
        action="registration.review"),
    ("POST", "/api/v1/registrations/{registration_id}/objections"): Row(
        SIGNED_IN, params=NOTICE, body=lambda c: {"grounds": "该数据由我方采集"}, action="objection.file"),
    ("POST", "/api/v1/registrations/objections/{objection_id}/decision"): Row(
        OPERATOR, params=lambda c: {"objection_id": c["objection"]}, body=lambda c: {"uphold": False, "reason": "x"},
            action="registration.certify"),
    ("POST", "/api/v1/registrations/{registration_id}/reports"): Row(
        NOBODY, params=NOTICE, body=REPORT, action=("registration.read", "report.attach"), on="notice"),
    ("POST", "/api/v1/registrations/{registration_id}/issue"): Row(OPERATOR, params=NOTICE, body=lambda c: {},
        action="registration.certify"),
    ("POST", "/api/v1/registrations/{registration_id}/revoke"): Row(
        OPERATOR, params=lambda c: {"registration_id": c["issued"]}, body=REASON, action="registration.certify"),
    ("POST", "/api/v1/registrations/{registration_id}/follow-ups"): Row(
        NOBODY, params=lambda c: {"registration_id": c["issued"]}, body=lambda c: {"reg_type": "renewal"},
            action="registration.edit", on="issued"),
    ("POST", "/api/v1/registrations/{registration_id}/confirm-transfer"): Row(NOBODY, params=NOTICE,
                                                                               body=lambda c: {},
        action="transfer.confirm", on="notice"),
    # portal pages
    ("GET", "/registry"): Row(EVERYONE, action="registration.public"),
    ("GET", "/registry/review"): Row(STAFF, action="registration.read_all"),
    ("GET", "/registry/notices"): Row(EVERYONE, action="registration.public"),
    ("POST", "/registry/new"): Row(HOLDERS, body=lambda c: {"title_zh": "新登记"}, action="registration.create"),
    ("GET", "/registry/{registration_id:int}"): Row(STAFF | HOLDERS | {"pending_admin"}, params=OWN,
        also=(Row(params=SUBMITTED,
            action="registration.read|registration.assess", on="submitted"),),
        action="registration.read", on="own_draft"),
    ("POST", "/registry/{registration_id:int}/declaration"): Row(
        HOLDERS, params=OWN, body=lambda c: DECLARATION.model_dump(mode="json"),
            action="registration.edit", on="own_draft"),
    ("POST", "/registry/{registration_id:int}/objection"): Row(
        SIGNED_IN, params=NOTICE, body=lambda c: {"grounds": "该数据由我方采集"}, action="objection.file"),
    ("POST", "/registry/{registration_id:int}/report"): Row(NOBODY, params=NOTICE, body=REPORT,
        action=("registration.read", "report.attach"), on="notice"),
    ("POST", "/registry/{registration_id:int}/{action}"): Row(
        REVIEWERS, params=lambda c: {"registration_id": c["submitted"], "action": "take"},
            action="registration.review"),
    ("POST", "/registry/objections/{objection_id}/decision"): Row(
        OPERATOR, params=lambda c: {"objection_id": c["objection"]}, body=lambda c: {"uphold": "0", "reason": "x"},
            action="registration.certify"),
    ("GET", "/registry/certificates/{number}"): Row(EVERYONE, params=lambda c: {"number": c["number"]},
        action="registration.public"),
    ("GET", "/registry/certificates/{number}/pdf"): Row(EVERYONE, params=lambda c: {"number": c["number"]},
        action="registration.public"),
    ("GET", "/registry/verify"): Row(EVERYONE, action="registration.public"),
    ("POST", "/registry/verify"): Row(EVERYONE, body=lambda c: {"certificate": "{}"}, action="registration.public"),
}

_CSV = "姓名,金额,区划\n张三,12.5,520102\n李四,8,520103\n王五,30,520111\n"


def setup(ctx: dict[str, Any], db: Any, make: Any, actor: Actor | None, env: dict[str, Any]) -> None:
    database, settings, tmp = env["database"], env["settings"], Path(env["tmp_path"])
    holder = make.actor(make.user())
    operator = make.actor(make.operator())
    reviewer = make.actor(make.operator(staff_role="reviewer"))
    path = tmp / "matrix.csv"
    path.write_bytes(_CSV.encode("gb18030"))

    def submitted() -> Registration:
        reg = process(database, db, settings, holder, [path])
        service.update_declaration(db, holder, reg.id, DECLARATION)
        return review.submit(db, holder, reg.id)

    ctx["submitted"] = submitted().id
    notice = submitted()
    review.take(db, reviewer, notice.id)
    review.approve(db, reviewer, settings, notice.id, schemas.Approval())
    ctx["notice"] = notice.id
    ctx["objection"] = review.file_objection(db, holder, notice.id, "测试异议").id
    store = open_blob_store(settings)
    document, _size = service.store_upload(store, [b"%PDF-1.4 matrix document"], 10_000)
    ctx["own_objection"] = review.file_objection(db, actor or holder, notice.id, "我方的异议").id
    third_party = make.actor(make.user())
    ctx["evidence_objection"] = review.file_objection(db, third_party, notice.id, "附证据的异议",
                                                      evidence=(document, "证据.pdf")).id
    provider = make.actor(make.user(organisation=make.org(org_type="service_provider")))
    signer = load_signer(settings.key_dir)
    report = schemas.ReportIn(**REPORT(ctx))
    ctx["bare_report"] = review.attach_report(db, provider, signer, ctx["submitted"], report).id
    ctx["document_report"] = review.attach_report(db, provider, signer, notice.id, report,
                                                  document=(document, "评估报告.pdf")).id
    issued = submitted()
    review.take(db, reviewer, issued.id)
    issued = review.approve(db, reviewer, settings, issued.id, schemas.Approval())
    certificate = review.issue_certificate(db, operator, settings, signer, issued.id,
                                           now=issued.notice_ends_at + dt.timedelta(seconds=1))
    ctx["issued"], ctx["number"] = issued.id, certificate.number
    ctx["certificate_json"] = {"certificate": certificate.document,
                               "signature": {"algorithm": certificate.algorithm, "key_id": certificate.key_id,
                                             "value": certificate.signature}}
    # "Own" is the acting user's organisation; staff (whose organisation registers no data)
    # and anonymous users get a draft of another organisation instead.
    owner = actor if actor is not None and not actor.is_staff else holder
    draft = Registration(holder_org_id=owner.org_id, status="draft", title_zh="矩阵草稿", title_en="Matrix draft",
                         source="purchased", contract_sha256=document, contract_name="采购合同.pdf")
    db.add(draft)
    db.flush()
    ctx["own_draft"] = draft.id
    stand_in = Actor(user_id=owner.user_id, org_id=owner.org_id, org_role="admin", org_status="approved",
                     org_type=owner.org_type, via="api")
    digest, size = service.store_upload(open_blob_store(settings), [_CSV.encode()], 10_000)
    ctx["own_file"] = service.add_file(db, stand_in, draft.id, "own.csv", digest, size).id
    regs = {key: db.get(Registration, ctx[key]) for key in ("own_draft", "submitted", "notice", "issued")}
    objections = {key: db.get_one(Objection, ctx[key]) for key in ("own_objection", "evidence_objection")}
    ctx.setdefault("res", {}).update(
        {key: permissions.registration(reg) for key, reg in regs.items() if reg is not None},
        **{key: permissions.objection(o, db.get_one(Registration, o.registration_id)) for key, o in objections.items()},
        bare_report=permissions.report(db.get_one(ProviderReport, ctx["bare_report"])))
