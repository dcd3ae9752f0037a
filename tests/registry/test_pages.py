"""Portal pages: list, detail, review, notices, certificate (QR, PDF), public verification."""

from __future__ import annotations

import datetime as dt
import json

from qianshu.core.signing import load_signer
from qianshu.registry import review, schemas, service
from tests.registry.helpers import DECLARATION, process, sign_in


def _issued(database, db, settings, make, merchant, reviewer, operator, gb_csv):  # type: ignore[no-untyped-def]
    m = make.actor(merchant)
    reg = process(database, db, settings, m, [gb_csv])
    service.update_declaration(db, m, reg.id, DECLARATION)
    review.submit(db, m, reg.id)
    review.approve(db, make.actor(reviewer), settings, reg.id, schemas.Approval())
    cert = review.issue_certificate(db, make.actor(operator), settings, load_signer(settings.key_dir), reg.id,
                                    now=reg.notice_ends_at + dt.timedelta(seconds=1))
    db.commit()
    return reg, cert


def test_pages_render(client, database, db, settings, make, merchant, reviewer, operator, gb_csv) -> None:
    reg, cert = _issued(database, db, settings, make, merchant, reviewer, operator, gb_csv)
    sign_in(client, merchant)
    page = client.get(f"/registry/{reg.id}")
    assert page.status_code == 200
    assert "GB18030" in page.text
    assert "公民身份号码" in page.text
    assert "520102" not in page.text.split('id="pii"')[1].split("</table>")[0].replace("520*", "")
    assert client.get("/registry").status_code == 200
    cert_page = client.get(f"/registry/certificates/{cert.number}")
    assert cert_page.status_code == 200
    assert "<svg" in cert_page.text
    pdf = client.get(f"/registry/certificates/{cert.number}/pdf")
    assert pdf.content.startswith(b"%PDF")
    assert client.get("/registry/notices").status_code == 200


def test_public_verification_page(client, database, db, settings, make, merchant, reviewer, operator,
                                  gb_csv) -> None:
    _reg, cert = _issued(database, db, settings, make, merchant, reviewer, operator, gb_csv)
    page = client.get("/registry/verify", headers={"Accept-Language": "en"})
    import re

    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    signed = client.get(f"/api/v1/registrations/certificates/{cert.number}").json()
    r = client.post(f"/registry/verify?csrf_token={csrf}", headers={"Accept-Language": "en"},
                    files={"certificate": ("c.json", json.dumps(signed).encode(), "application/json")})
    assert r.status_code == 200, r.text
    assert "签名有效" in r.text or "The signature is valid." in r.text
    signed["certificate"]["rights"] = ["holding", "operation", "processing_use"]
    r = client.post(f"/registry/verify?csrf_token={csrf}", headers={"Accept-Language": "en"},
                    files={"certificate": ("c.json", json.dumps(signed).encode(), "application/json")})
    assert "签名不匹配" in r.text or "signature does not match" in r.text


def test_portal_declaration_and_review(client, database, db, settings, make, merchant, reviewer, gb_csv) -> None:
    m = make.actor(merchant)
    reg = process(database, db, settings, m, [gb_csv])
    sign_in(client, merchant)
    page = client.get(f"/registry/{reg.id}")
    import re

    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    form = DECLARATION.model_dump(mode="json")
    form["rights"] = ["holding"]
    form["csrf_token"] = csrf
    r = client.post(f"/registry/{reg.id}/declaration", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text[:2000]
    r = client.post(f"/registry/{reg.id}/submit", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    db.expire_all()
    assert service.get_registration(db, m, reg.id).status == "submitted"


def test_a_certificate_is_checked_by_its_number(client, database, db, settings, make, merchant, reviewer,  # type: ignore[no-untyped-def]
                                                operator, gb_csv) -> None:
    _reg, cert = _issued(database, db, settings, make, merchant, reviewer, operator, gb_csv)
    page = client.get(f"/registry/certificates/{cert.number}")
    assert f'href="/registry/verify?number={cert.number}"' in page.text  # where the QR's page leads
    checked = client.get(f"/registry/verify?number={cert.number.lower()}%20")  # typed loosely
    assert checked.status_code == 200
    assert 'id="verify-result" class="ok"' in checked.text
    assert cert.number in checked.text
    missing = client.get("/registry/verify?number=QS-DR-1999-000001")
    assert missing.status_code == 404
    assert "QS-DR-1999-000001" in missing.text
    assert 'id="verify-result"' not in missing.text
    assert client.get("/registry/verify?number=" + "9" * 5000).status_code == 404  # bounded, no crash


def test_certificate_links_use_the_public_address(client, database, db, settings, make, merchant, reviewer,
                                                  operator, gb_csv) -> None:
    """The verify link and QR code of the page and the PDF: public_base_url, never the Host header."""
    _reg, cert = _issued(database, db, settings, make, merchant, reviewer, operator, gb_csv)
    verify = f"{settings.public_base}/registry/certificates/{cert.number}"
    hostile = {"Host": "evil.example", "X-Forwarded-Proto": "https"}
    page = client.get(f"/registry/certificates/{cert.number}", headers=hostile)
    assert page.status_code == 200
    assert "evil.example" not in page.text
    pdf = client.get(f"/registry/certificates/{cert.number}/pdf", headers=hostile).content
    assert f"/URI ({verify})".encode() in pdf  # the verify line and the QR code are links
    assert b"evil.example" not in pdf
    assert b"testserver" not in pdf
