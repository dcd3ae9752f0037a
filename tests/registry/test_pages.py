"""Portal pages: list, detail, review, notices, certificate (QR, PDF), public verification."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from qianshu.core.i18n import LANG_COOKIE
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
    # a bank checking a certificate reads the labels with the colon of its language
    client.cookies.set(LANG_COOKIE, "zh")
    zh = client.get(f"/registry/verify?number={cert.number}").text
    result = zh.split('id="verify-result"', 1)[1].split("</div>", 1)[0]
    assert "登记编号：" in result
    assert "公共日志叶子：" in result
    assert not re.search(r"[\u4e00-\u9fff]: ", result)
    client.cookies.set(LANG_COOKIE, "en")
    en = client.get(f"/registry/verify?number={cert.number}").text
    assert "Public log leaf: " in en
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

@pytest.mark.parametrize(("lang", "expected"), [
    ("zh", ["持有主体", "统一社会信用代码", "黔中测试数据有限公司", "测试用的居民数据", "行业", "互联网和相关服务",
            "覆盖地区", "南明区", "时间范围", "2025-01-01", "2025-12-31", "每月", "数据来源", "自行采集",
            "合法性依据", "自行采集，已取得授权", "登记的权利", "数据资源持有权", "数据加工使用权", "样例数据"]),
    ("en", ["Holder", "Unified Social Credit Code", "Qianzhong Test Data Co.", "Test data.", "Industry",
            "Internet services", "Region covered", "南明区", "Time coverage", "2025-01-01", "2025-12-31", "Monthly",
            "Source", "Own collection", "Lawful basis", "自行采集，已取得授权", "Rights registered",
            "Right to hold the data resource", "Right to process and use", "Sample rows"]),
])
def test_the_reviewer_sees_what_they_approve(client, database, db, settings, make, reviewer, gb_csv, lang: str,
                                            expected: list[str]) -> None:
    holder = make.user(organisation=make.org(org_type="data_merchant", name="黔中测试数据有限公司",
                                             name_en="Qianzhong Test Data Co., Ltd."))
    m = make.actor(holder)
    reg = process(database, db, settings, m, [gb_csv])
    service.update_declaration(db, m, reg.id, DECLARATION)
    review.submit(db, m, reg.id)
    db.commit()
    sign_in(client, reviewer)
    client.cookies.set("qs_lang", lang)
    page = client.get(f"/registry/{reg.id}")
    assert page.status_code == 200
    declared = page.text.split('id="declared"')[1].split("</section>")[0]
    sample = page.text.split('id="sample"')[1].split("</section>")[0]
    assert [text for text in expected if text not in declared + sample] == []
    for raw in ("own_collection", "processing_use", "monthly", ">holding<"):
        assert raw not in declared
    assert sample.count("<tr>") == 11  # the header and ten rows
    ids = re.findall(r"\b\d{17}[\dX]\b", sample)
    assert ids == [], "resident IDs shown unmasked"
    assert "520102" in sample  # division codes are not personal data
