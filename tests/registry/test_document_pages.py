"""Supporting documents in the portal: the declaration form carries the purchase contract, the
objection form its evidence, the report form its document (multipart, CSRF token in the query)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from qianshu.core.blobs import open_blob_store
from qianshu.core.signing import load_signer, verify_document
from qianshu.registry import review
from qianshu.registry.models import Objection, ProviderReport, Registration
from qianshu.registry.pages import FORM_ROOM_BYTES
from qianshu.registry.settings import RegistrySettings
from tests.registry.helpers import DECLARATION, process, sign_in
from tests.registry.test_documents import PDF, SCAN, _assert_attachment, _in_notice, _submitted

BOUNDARY = "----qianshu-test-form"


def browser_form(fields: dict[str, object], files: dict[str, tuple[str, bytes]]) -> dict[str, object]:
    """A multipart body as a browser writes it: a file input left empty is a part with
    ``filename=""`` (httpx leaves the filename out), and the name is sent as it is."""
    parts = []
    for key, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{item}\r\n'.encode())
    for key, (name, body) in files.items():
        parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{key}"; filename="{name}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + body + b"\r\n")
    parts.append(f"--{BOUNDARY}--\r\n".encode())
    return {"content": b"".join(parts), "headers": {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
            "follow_redirects": False}


def _blobs(settings) -> set[Path]:  # type: ignore[no-untyped-def]
    return {p for p in settings.blob_dir.rglob("*") if p.is_file()}


def test_declaration_form_carries_the_contract(client, database, db, settings, make, merchant, gb_csv) -> None:
    reg = process(database, db, settings, make.actor(merchant), [gb_csv])
    csrf = sign_in(client, merchant)
    page = client.get(f"/registry/{reg.id}")
    assert f'action="/registry/{reg.id}/declaration?csrf_token={csrf}" enctype="multipart/form-data"' in page.text
    assert 'name="contract"' in page.text
    url = f"/registry/{reg.id}/declaration?csrf_token={csrf}"
    form = DECLARATION.model_dump(mode="json") | {"source": "purchased", "rights": ["holding"],
                                                   "lawful_basis": "外购，见采购合同"}
    saved = client.post(url, **browser_form(form, {"contract": ("", b"")}))  # no file chosen
    assert saved.status_code == 303, saved.text[:2000]
    refused = client.post(f"/registry/{reg.id}/submit", data={"csrf_token": csrf})
    assert refused.status_code == 422
    assert "外购数据须提供采购合同" in refused.text

    with_contract = client.post(url, data=form, files={"contract": ("采购合同.pdf", PDF, "application/pdf")},
                                follow_redirects=False)
    assert with_contract.status_code == 303, with_contract.text[:2000]
    db.expire_all()
    row = db.get_one(Registration, reg.id)
    assert (row.contract_name, row.contract_sha256) == ("采购合同.pdf", hashlib.sha256(PDF).hexdigest())
    page = client.get(f"/registry/{reg.id}")
    contract = f"/api/v1/registrations/{reg.id}/contract"
    assert f'href="{contract}" download><span lang="zh-CN">采购合同.pdf</span></a>' in page.text
    _assert_attachment(client.get(f"/api/v1/registrations/{reg.id}/contract"), PDF, "采购合同.pdf")

    # Saving the declaration again with a new file replaces the contract and forgets the old one.
    client.post(url, data=form, files={"contract": ("扫描件.jpg", SCAN, "image/jpeg")}, follow_redirects=False)
    assert not open_blob_store(settings).exists(hashlib.sha256(PDF).hexdigest())
    assert client.post(f"/registry/{reg.id}/submit", data={"csrf_token": csrf}, follow_redirects=False) \
        .status_code == 303
    db.expire_all()
    assert db.get_one(Registration, reg.id).status == "submitted"


def test_a_multipart_form_needs_the_token_in_its_address(client, database, db, settings, make, merchant,
                                                        gb_csv) -> None:
    reg = process(database, db, settings, make.actor(merchant), [gb_csv])
    csrf = sign_in(client, merchant)
    form = DECLARATION.model_dump(mode="json") | {"csrf_token": csrf}  # in the body: not read for multipart
    r = client.post(f"/registry/{reg.id}/declaration", data=form,
                    files={"contract": ("c.pdf", PDF, "application/pdf")}, follow_redirects=False)
    assert r.status_code == 403
    db.expire_all()
    assert db.get_one(Registration, reg.id).contract_sha256 is None


def test_objection_form_carries_the_evidence(client, database, db, settings, make, merchant, reviewer,
                                             gb_csv) -> None:
    reg = _in_notice(database, db, settings, make, merchant, reviewer, gb_csv)
    objector = make.user(organisation=make.org(org_type="data_merchant"))
    db.commit()
    csrf = sign_in(client, objector)
    r = client.post(f"/registry/{reg.id}/objection?csrf_token={csrf}", data={"grounds": "该数据由我方采集。"},
                    files={"evidence": ("现场照片.jpg", SCAN, "image/jpeg")}, follow_redirects=False)
    assert r.status_code == 303, r.text[:2000]
    plain = client.post(f"/registry/{reg.id}/objection?csrf_token={csrf}",
                        **browser_form({"grounds": "另有异议"}, {"evidence": ("", b"")}))
    assert plain.status_code == 303
    filed = review.objections(db, reg.id)
    assert [(o.evidence_name, o.evidence_sha256) for o in filed] == [
        ("现场照片.jpg", hashlib.sha256(SCAN).hexdigest()), ("", None)]
    page = client.get(f"/registry/{reg.id}")
    link = f"/api/v1/registrations/objections/{filed[0].id}/evidence"
    assert f'href="{link}" download><span lang="zh-CN">现场照片.jpg</span></a>' in page.text
    _assert_attachment(client.get(link), SCAN, "现场照片.jpg")
    # The public sees the objection but not a link to its evidence.
    client.cookies.clear()
    assert link not in client.get(f"/registry/{reg.id}").text


def test_report_form_carries_the_document(client, database, db, settings, make, merchant, gb_csv) -> None:
    reg = _submitted(database, db, settings, make, merchant, gb_csv)
    provider = make.user(organisation=make.org(org_type="service_provider"))
    db.commit()
    csrf = sign_in(client, provider)
    r = client.post(f"/registry/{reg.id}/report?csrf_token={csrf}",
                    data={"kind": "quality", "title": "质量评估报告", "conclusion": "完整性良好", "score": "90"},
                    files={"document": ("质量评估报告.pdf", PDF, "application/pdf")}, follow_redirects=False)
    assert r.status_code == 303, r.text[:2000]
    (report,) = review.reports(db, reg.id)
    assert report.statement["document_sha256"] == report.document_sha256 == hashlib.sha256(PDF).hexdigest()
    assert verify_document(load_signer(settings.key_dir).public_key(), report.statement, report.signature)
    link = f"/api/v1/registrations/{reg.id}/reports/{report.id}/document"
    page = client.get(f"/registry/{reg.id}").text
    assert f'href="{link}" download><span lang="zh-CN">质量评估报告.pdf</span></a>' in page
    _assert_attachment(client.get(link), PDF, "质量评估报告.pdf")


def test_bad_files_are_refused_on_the_page(client, database, db, settings, make, merchant, reviewer,
                                           gb_csv) -> None:
    reg = _in_notice(database, db, settings, make, merchant, reviewer, gb_csv)
    csrf = sign_in(client, merchant)
    url = f"/registry/{reg.id}/objection?csrf_token={csrf}"
    before = _blobs(settings)

    def post(name: str, body: bytes):  # type: ignore[no-untyped-def]
        return client.post(url, data={"grounds": "异议"}, files={"evidence": (name, body, "image/jpeg")},
                           follow_redirects=False)

    hostile = post("../x", SCAN)
    assert hostile.status_code == 422
    assert "文件名不允许" in hostile.text
    control = client.post(url, **browser_form({"grounds": "异议"}, {"evidence": ("a\x01b.jpg", SCAN)}))
    assert control.status_code == 422
    empty = post("空.jpg", b"")
    assert empty.status_code == 422
    assert "空.jpg：文件为空。" in empty.text
    settings.override(RegistrySettings, document_max_bytes=1000)
    large = post("大.jpg", SCAN)
    assert large.status_code == 413
    assert "文件超过 1000 B 的上限" in large.text
    settings.override(RegistrySettings, document_max_bytes=50 * 1024**2)
    # A body larger than the route's limit is refused before it is read.
    whole = post("巨大.jpg", b"\0" * (settings.section(RegistrySettings).document_max_bytes + FORM_ROOM_BYTES))
    assert whole.status_code == 413
    assert "请求体超过 53477376 字节的上限。" in whole.text  # the page never ran
    assert review.objections(db, reg.id) == []
    assert _blobs(settings) == before


def test_portal_document_routes_refuse_the_wrong_people(client, database, db, settings, make, merchant,
                                                        reviewer, gb_csv) -> None:
    reg = _in_notice(database, db, settings, make, merchant, reviewer, gb_csv)
    stranger = make.user(organisation=make.org(org_type="data_merchant"))
    db.commit()
    csrf = sign_in(client, stranger)
    report = client.post(f"/registry/{reg.id}/report?csrf_token={csrf}",
                         data={"kind": "compliance", "title": "t", "conclusion": "c"},
                         files={"document": ("r.pdf", PDF, "application/pdf")}, follow_redirects=False)
    assert report.status_code == 403
    declaration = client.post(f"/registry/{reg.id}/declaration?csrf_token={csrf}",
                              data=DECLARATION.model_dump(mode="json"),
                              files={"contract": ("c.pdf", PDF, "application/pdf")}, follow_redirects=False)
    assert declaration.status_code == 404
    db.expire_all()
    assert db.query(ProviderReport).count() == 0
    assert db.get_one(Registration, reg.id).contract_sha256 is None
    assert db.query(Objection).count() == 0
    assert not open_blob_store(settings).exists(hashlib.sha256(PDF).hexdigest())
