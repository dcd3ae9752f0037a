"""Supporting documents over the REST API: purchase contract, objection evidence and report
documents — streamed uploads into the blob store, attachments out, who may do which, limits."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import select

from qianshu.core.audit import AuditEvent
from qianshu.core.blobs import open_blob_store
from qianshu.core.signing import load_signer, verify_document
from qianshu.registry import review, schemas, service
from qianshu.registry.models import HistoryEntry, Objection, ProviderReport, Registration
from qianshu.registry.settings import RegistrySettings
from tests.registry.helpers import DECLARATION, process

API = "/api/v1/registrations"
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"  # any bytes: not text, not UTF-8
SCAN = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(range(200, 256)) * 30  # a JPEG's opening


def _chunks(data: bytes, size: int = 1000):  # type: ignore[no-untyped-def]
    for i in range(0, len(data), size):
        yield data[i:i + size]


def _blobs(settings) -> list[Path]:  # type: ignore[no-untyped-def]
    return [p for p in settings.blob_dir.rglob("*") if p.is_file()]


def _downloads(db, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == f"registration.{action}_downloaded")))


def _assert_attachment(response, body: bytes, name: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    assert response.content == body
    assert response.headers["content-type"] == "application/octet-stream"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote(name, safe='')}" in disposition
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]


@pytest.fixture
def provider(make):  # type: ignore[no-untyped-def]
    return make.user(organisation=make.org(org_type="service_provider"))


def _submitted(database, db, settings, make, merchant, path: Path) -> Registration:  # type: ignore[no-untyped-def]
    holder = make.actor(merchant)
    reg = process(database, db, settings, holder, [path])
    service.update_declaration(db, holder, reg.id, DECLARATION)
    review.submit(db, holder, reg.id)
    db.commit()
    return reg


def _in_notice(database, db, settings, make, merchant, reviewer, path: Path) -> Registration:  # type: ignore[no-untyped-def]
    reg = _submitted(database, db, settings, make, merchant, path)
    checker = make.actor(reviewer)
    review.take(db, checker, reg.id)
    review.approve(db, checker, settings, reg.id, schemas.Approval())
    db.commit()
    return reg


# --- purchase contract ----------------------------------------------------------------------

def test_contract_upload_and_download(client, db, settings, make, merchant, reviewer, bearer) -> None:
    h = bearer(merchant)
    rid = client.post(API, json={"title_zh": "外购数据"}, headers=h).json()["id"]
    name = "采购合同（2026）第1号.pdf"
    up = client.put(f"{API}/{rid}/contract/{name}", content=_chunks(PDF), headers=h)
    assert up.status_code == 201, up.text
    assert up.json() == {"name": name, "sha256": hashlib.sha256(PDF).hexdigest(), "size": len(PDF)}

    _assert_attachment(client.get(f"{API}/{rid}/contract", headers=h), PDF, name)
    colleague = make.user(organisation=merchant.organisation, org_role="member")
    _assert_attachment(client.get(f"{API}/{rid}/contract", headers=bearer(colleague)), PDF, name)
    auditor = make.operator(staff_role="auditor")
    for staff in (reviewer, auditor):
        _assert_attachment(client.get(f"{API}/{rid}/contract", headers=bearer(staff)), PDF, name)
    audited = _downloads(db, "contract")
    assert [e.actor_user_id for e in audited] == [merchant.id, colleague.id, reviewer.id, auditor.id]
    assert audited[0].detail["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert audited[0].target_id == str(rid)

    stranger = make.user(organisation=make.org(org_type="data_merchant"))
    assert client.get(f"{API}/{rid}/contract", headers=bearer(stranger)).status_code == 404
    assert client.get(f"{API}/{rid}/contract").status_code == 404
    assert client.put(f"{API}/{rid}/contract/x.pdf", content=PDF, headers=bearer(stranger)).status_code == 404
    assert client.put(f"{API}/{rid}/contract/x.pdf", content=PDF, headers=bearer(reviewer)).status_code == 404
    assert len(_downloads(db, "contract")) == 4  # refusals are not downloads


def test_no_contract_is_a_clear_404(client, merchant, bearer) -> None:
    h = bearer(merchant) | {"Accept-Language": "en"}
    rid = client.post(API, json={}, headers=h).json()["id"]
    r = client.get(f"{API}/{rid}/contract", headers=h)
    assert r.status_code == 404
    assert r.json()["detail"] == "No purchase contract has been uploaded."


def test_replacing_the_contract_forgets_the_old_blob(client, settings, merchant, bearer) -> None:
    h = bearer(merchant)
    store = open_blob_store(settings)
    first, second = client.post(API, json={}, headers=h).json()["id"], client.post(API, json={}, headers=h).json()["id"]
    old = client.put(f"{API}/{first}/contract/old.pdf", content=PDF, headers=h).json()["sha256"]
    assert client.put(f"{API}/{first}/contract/new.jpg", content=SCAN, headers=h).status_code == 201
    assert not store.exists(old)
    _assert_attachment(client.get(f"{API}/{first}/contract", headers=h), SCAN, "new.jpg")
    # A blob another registration still refers to stays.
    shared = client.put(f"{API}/{second}/contract/shared.pdf", content=PDF, headers=h).json()["sha256"]
    assert client.put(f"{API}/{first}/contract/shared.pdf", content=PDF, headers=h).status_code == 201
    assert client.put(f"{API}/{first}/contract/again.jpg", content=SCAN, headers=h).status_code == 201
    assert store.exists(shared)
    # The same file again replaces nothing.
    assert client.put(f"{API}/{first}/contract/again.jpg", content=SCAN, headers=h).status_code == 201
    assert store.exists(hashlib.sha256(SCAN).hexdigest())


def test_purchased_data_needs_an_uploaded_contract(client, database, db, settings, make, merchant, bearer,
                                                   gb_csv) -> None:
    holder = make.actor(merchant)
    reg = process(database, db, settings, holder, [gb_csv])
    # Naming a contract in the lawful basis used to be enough; it is not any more.
    service.update_declaration(db, holder, reg.id, DECLARATION.model_copy(
        update={"source": "purchased", "lawful_basis": "外购，采购合同编号 QS-2026-018 (purchase contract)"}))
    db.commit()
    h = bearer(merchant)
    zh = client.post(f"{API}/{reg.id}/submit", headers=h)
    en = client.post(f"{API}/{reg.id}/submit", headers=h | {"Accept-Language": "en"})
    assert zh.status_code == en.status_code == 422
    assert zh.json()["field"] == en.json()["field"] == "contract"
    assert en.json()["detail"] == "contract: purchased data needs the purchase contract."
    assert "外购数据须提供采购合同" in zh.json()["detail"]

    assert client.put(f"{API}/{reg.id}/contract/采购合同.pdf", content=PDF, headers=h).status_code == 201
    submitted = client.post(f"{API}/{reg.id}/submit", headers=h)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "submitted"
    # No longer editable: the contract is what was submitted.
    late = client.put(f"{API}/{reg.id}/contract/other.pdf", content=SCAN, headers=h)
    assert late.status_code == 409
    _assert_attachment(client.get(f"{API}/{reg.id}/contract", headers=h), PDF, "采购合同.pdf")


# --- objection evidence ---------------------------------------------------------------------

def test_objection_evidence(client, database, db, settings, make, merchant, reviewer, operator, bearer,
                            gb_csv) -> None:
    reg = _in_notice(database, db, settings, make, merchant, reviewer, gb_csv)
    objector = make.user(organisation=make.org(org_type="data_merchant"))
    h = bearer(objector)
    filed = client.post(f"{API}/{reg.id}/objections", json={"grounds": "该数据由我方采集。"}, headers=h)
    oid = filed.json()["id"]
    up = client.put(f"{API}/objections/{oid}/evidence/采集记录.pdf", content=_chunks(PDF), headers=h)
    assert up.status_code == 201, up.text
    first = up.json()["sha256"]
    # A colleague of the objector may replace it; the replaced blob goes.
    colleague = make.user(organisation=objector.organisation, org_role="member")
    up = client.put(f"{API}/objections/{oid}/evidence/现场照片.jpg", content=SCAN, headers=bearer(colleague))
    assert up.status_code == 201, up.text
    assert not open_blob_store(settings).exists(first)
    stranger = make.user(organisation=make.org(org_type="data_merchant"))
    assert client.put(f"{API}/objections/{oid}/evidence/x.pdf", content=PDF, headers=bearer(stranger)).status_code \
        == 403
    assert client.put(f"{API}/objections/{oid}/evidence/x.pdf", content=PDF).status_code == 401
    assert client.put(f"{API}/objections/999999/evidence/x.pdf", content=PDF, headers=h).status_code == 404

    url = f"{API}/objections/{oid}/evidence"
    for user in (objector, colleague, merchant, operator, reviewer):
        _assert_attachment(client.get(url, headers=bearer(user)), SCAN, "现场照片.jpg")
    assert client.get(url, headers=bearer(stranger)).status_code == 403
    assert client.get(url).status_code == 401
    audited = _downloads(db, "evidence")
    assert len(audited) == 5
    assert audited[0].detail["objection_id"] == oid

    decided = client.post(f"{API}/objections/{oid}/decision", json={"uphold": False, "reason": "证据不足"},
                          headers=bearer(operator))
    assert decided.status_code == 200
    late = client.put(f"{API}/objections/{oid}/evidence/more.pdf", content=PDF, headers=h)
    assert late.status_code == 409
    assert db.get_one(Objection, oid).evidence_name == "现场照片.jpg"


def test_an_objection_without_evidence(client, database, db, settings, make, merchant, reviewer, bearer,
                                       gb_csv) -> None:
    reg = _in_notice(database, db, settings, make, merchant, reviewer, gb_csv)
    oid = client.post(f"{API}/{reg.id}/objections", json={"grounds": "x"}, headers=bearer(merchant)).json()["id"]
    assert client.get(f"{API}/objections/{oid}/evidence", headers=bearer(merchant)).status_code == 404


# --- service-provider report document -------------------------------------------------------

def test_report_document_is_signed_with_the_report(client, database, db, settings, make, merchant, reviewer,
                                                   provider, bearer, gb_csv) -> None:
    reg = _submitted(database, db, settings, make, merchant, gb_csv)
    hp = bearer(provider)
    attached = client.post(f"{API}/{reg.id}/reports", json={"kind": "compliance", "title": "合规评估报告",
                                                            "conclusion": "来源合法"}, headers=hp)
    report_id = attached.json()["id"]
    up = client.put(f"{API}/{reg.id}/reports/{report_id}/document/合规评估报告.pdf", content=_chunks(PDF),
                    headers=hp)
    assert up.status_code == 201, up.text
    body = up.json()
    digest = hashlib.sha256(PDF).hexdigest()
    assert body["document_sha256"] == body["statement"]["document_sha256"] == digest
    assert body["signature"] != attached.json()["signature"]
    public_key = load_signer(settings.key_dir).public_key()
    assert verify_document(public_key, body["statement"], body["signature"])
    db.expire_all()
    row = db.get_one(ProviderReport, report_id)
    assert row.statement["document_sha256"] == digest
    assert row.document_name == "合规评估报告.pdf"
    assert verify_document(public_key, row.statement, row.signature)
    assert not verify_document(public_key, {**row.statement, "document_sha256": None}, row.signature)
    steps = db.scalars(select(HistoryEntry.action).where(HistoryEntry.registration_id == reg.id)).all()
    assert "report_document_attached" in steps

    again = client.put(f"{API}/{reg.id}/reports/{report_id}/document/v2.pdf", content=SCAN, headers=hp)
    assert again.status_code == 409  # once
    other = make.user(organisation=make.org(org_type="service_provider"))
    assert client.put(f"{API}/{reg.id}/reports/{report_id}/document/x.pdf", content=PDF,
                      headers=bearer(other)).status_code == 403
    assert client.put(f"{API}/{reg.id}/reports/{report_id}/document/x.pdf", content=PDF,
                      headers=bearer(merchant)).status_code == 403

    url = f"{API}/{reg.id}/reports/{report_id}/document"
    for user in (provider, other, merchant, reviewer):  # whoever may see the submitted registration
        _assert_attachment(client.get(url, headers=bearer(user)), PDF, "合规评估报告.pdf")
    stranger = make.user(organisation=make.org(org_type="data_merchant"))
    assert client.get(url, headers=bearer(stranger)).status_code == 404
    assert client.get(url).status_code == 404
    assert client.get(f"{API}/{reg.id}/reports/{report_id + 1000}/document", headers=bearer(merchant)).status_code \
        == 404
    assert len(_downloads(db, "report_document")) == 4


def test_report_document_not_after_issue(client, database, db, settings, make, merchant, reviewer, operator,
                                         provider, bearer, gb_csv) -> None:
    reg = _in_notice(database, db, settings, make, merchant, reviewer, gb_csv)
    signer = load_signer(settings.key_dir)
    late = review.attach_report(db, make.actor(provider), signer, reg.id, schemas.ReportIn(
        kind="appraisal", title="资产评估", conclusion="估值 100 万元"))
    review.issue_certificate(db, make.actor(operator), settings, signer, reg.id,
                             now=reg.notice_ends_at + dt.timedelta(seconds=1))
    db.commit()
    r = client.put(f"{API}/{reg.id}/reports/{late.id}/document/估值.pdf", content=PDF,
                   headers=bearer(provider) | {"Accept-Language": "en"})
    assert r.status_code == 409
    assert r.json()["detail"] == "A report's document cannot be added while the registration is issued."
    assert not open_blob_store(settings).exists(hashlib.sha256(PDF).hexdigest())
    none = client.get(f"{API}/{reg.id}/reports/{late.id}/document", headers={"Accept-Language": "en"})
    assert none.status_code == 404
    assert none.json()["detail"] == "The report has no document."


# --- limits, names, broken streams ----------------------------------------------------------

def test_a_document_over_the_limit_is_refused(client, settings, merchant, bearer) -> None:
    settings.override(RegistrySettings, document_max_bytes=1000)
    h = bearer(merchant) | {"Accept-Language": "en"}
    rid = client.post(API, json={}, headers=h).json()["id"]
    streamed = client.put(f"{API}/{rid}/contract/big.pdf", content=_chunks(b"x" * 5000), headers=h)
    declared = client.put(f"{API}/{rid}/contract/big.pdf", content=b"x" * 5000, headers=h)
    assert streamed.status_code == declared.status_code == 413
    assert streamed.json()["detail"] == "The file is larger than the limit of 1000 B."
    assert _blobs(settings) == []
    # Data files keep their own, larger limit.
    assert client.put(f"{API}/{rid}/files/a.csv", content=b"a,b\n" * 500, headers=h).status_code == 201


def test_an_empty_document_is_refused(client, settings, merchant, bearer) -> None:
    h = bearer(merchant) | {"Accept-Language": "en"}
    rid = client.post(API, json={}, headers=h).json()["id"]
    r = client.put(f"{API}/{rid}/contract/empty.pdf", content=b"", headers=h)
    assert r.status_code == 422
    assert r.json()["detail"] == "empty.pdf: the file is empty."
    assert _blobs(settings) == []


@pytest.mark.parametrize("name", [
    "..%2Fx", "%2E%2E%2Fetc%2Fpasswd", "..%5Cx",  # folders
    "a%00b.pdf", "%01x.pdf", "tab%09.pdf", "%7F.pdf",  # control characters
    "%E2%80%AEfdp.exe", "zero%E2%80%8Bwidth.pdf",  # a right-to-left override, a zero-width space
    "%20", "x" * 256])
def test_hostile_names_are_refused(client, settings, merchant, bearer, name: str) -> None:
    h = bearer(merchant) | {"Accept-Language": "en"}
    rid = client.post(API, json={}, headers=h).json()["id"]
    r = client.put(f"{API}/{rid}/contract/{name}", content=PDF, headers=h)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "name"
    assert "the document name is not allowed" in r.json()["detail"]
    assert _blobs(settings) == []  # refused before a byte was stored


def test_a_client_disconnect_leaves_nothing(client, db, settings, merchant, bearer) -> None:
    h = bearer(merchant)
    rid = client.post(API, json={}, headers=h).json()["id"]

    def broken():  # type: ignore[no-untyped-def]
        yield PDF
        raise ConnectionResetError("client went away")

    with pytest.raises(Exception):  # noqa: B017,PT011 - the test client re-raises the client's error
        client.put(f"{API}/{rid}/contract/c.pdf", content=broken(), headers=h)
    db.expire_all()
    assert db.get_one(Registration, rid).contract_sha256 is None
    assert _blobs(settings) == []
