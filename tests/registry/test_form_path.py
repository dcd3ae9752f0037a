"""The registration form as a person uses it: every error at once, nothing written on a refusal,
one upload path with one error for the API and the portal, and no button the reader may not use."""

from __future__ import annotations

import re

import pytest

from qianshu.accounts.models import Organisation
from qianshu.core.i18n import LANG_COOKIE
from qianshu.registry.models import Registration
from qianshu.registry.settings import RegistrySettings
from tests.accounts.test_form_errors import beside, visible_text
from tests.registry.helpers import DECLARATION, process, sign_in
from tests.registry.test_document_pages import _blobs, browser_form

API = "/api/v1/registrations"


def _field_message(page: str, field: str) -> str:
    return beside(page, field, "declaration")


@pytest.mark.parametrize(("lang", "expected"), [
    ("zh", {"title_en": "名称（英文） 为必填项。", "lawful_basis": "合法性依据 为必填项。",
            "industry_code": "行业（GB/T 4754） 格式不正确。"}),
    ("en", {"title_en": "Title (English) is required.", "lawful_basis": "Lawful basis is required.",
            "industry_code": "Industry (GB/T 4754) is not in the expected format."}),
])
def test_the_declaration_shows_every_bad_field_at_once(client, database, db, settings, make, merchant, gb_csv,
                                                       lang, expected) -> None:
    reg = process(database, db, settings, make.actor(merchant), [gb_csv])
    csrf = sign_in(client, merchant)
    client.cookies.set(LANG_COOKIE, lang)
    form = DECLARATION.model_dump(mode="json") | {"title_zh": "新的标题", "title_en": "", "lawful_basis": "",
                                                   "industry_code": "x1"}
    r = client.post(f"/registry/{reg.id}/declaration?csrf_token={csrf}", **browser_form(form, {"contract": ("", b"")}))
    assert r.status_code == 422
    for field, message in expected.items():
        assert _field_message(r.text, field) == message
    summary = visible_text(r.text.split('id="form-errors"', 1)[1].split("</div>", 1)[0])
    assert {"zh": "请更正以下 3 处问题", "en": "Please correct 3 problems"}[lang] in summary
    assert 'value="新的标题"' in r.text  # the input is kept, not the stored title
    db.expire_all()
    assert db.get_one(Registration, reg.id).title_zh == "测试"


def test_a_refusal_after_the_declaration_was_saved_writes_nothing(client, database, db, settings, make, merchant,
                                                                 gb_csv) -> None:
    """The declaration is saved, then the contract is refused (its name): the page comes back with
    the error beside the contract and the typed title, and the database holds the old declaration."""
    reg = process(database, db, settings, make.actor(merchant), [gb_csv])
    csrf = sign_in(client, merchant)
    client.cookies.set(LANG_COOKIE, "en")
    before = _blobs(settings)
    form = DECLARATION.model_dump(mode="json") | {"title_zh": "不会保存的标题"}
    r = client.post(f"/registry/{reg.id}/declaration?csrf_token={csrf}",
                    **browser_form(form, {"contract": ("../合同.pdf", b"%PDF-1.4 contract")}))
    assert r.status_code == 422
    assert _field_message(r.text, "contract").startswith("Purchase contract:")
    assert 'value="不会保存的标题"' in r.text
    db.expire_all()
    row = db.get_one(Registration, reg.id)
    assert (row.title_zh, row.lawful_basis, row.contract_sha256) == ("测试", "", None)
    assert _blobs(settings) == before


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_an_oversize_file_gets_the_same_error_from_the_api_and_the_portal(client, database, db, settings, make,
                                                                         merchant, bearer, gb_csv, lang) -> None:
    reg = process(database, db, settings, make.actor(merchant), [gb_csv])
    settings.override(RegistrySettings, document_max_bytes=1000)
    before = _blobs(settings)
    api = client.put(f"{API}/{reg.id}/contract/big.pdf", content=b"x" * 5000,
                     headers=bearer(merchant) | {"Accept-Language": lang})
    assert api.status_code == 413
    detail = api.json()["detail"]
    assert api.json()["field"] == "contract"
    assert detail == {"zh": "文件超过 1000 B 的上限。", "en": "The file is larger than the limit of 1000 B."}[lang]

    csrf = sign_in(client, merchant)
    client.cookies.set(LANG_COOKIE, lang)
    page = client.post(f"/registry/{reg.id}/declaration?csrf_token={csrf}",
                       **browser_form(DECLARATION.model_dump(mode="json"), {"contract": ("big.pdf", b"x" * 5000)}))
    assert page.status_code == 413
    assert detail in _field_message(page.text, "contract")
    assert _blobs(settings) == before


def test_the_page_offers_no_button_the_reader_may_not_use(client, database, db, settings, make, merchant,
                                                          gb_csv) -> None:
    """A suspended organisation's member still reads its registration, but editing would be
    refused, so the page offers neither the declaration form, the upload nor "Submit for review"."""
    reg = process(database, db, settings, make.actor(merchant), [gb_csv])
    sign_in(client, merchant)
    client.cookies.set(LANG_COOKIE, "en")
    page = client.get(f"/registry/{reg.id}").text
    assert 'id="declaration"' in page
    assert 'id="uploader"' in page
    org = db.get_one(Organisation, merchant.org_id)
    org.status = "suspended"
    db.commit()
    page = client.get(f"/registry/{reg.id}").text
    assert 'id="declaration"' not in page
    assert 'id="uploader"' not in page
    assert "Submit for review" not in visible_text(page)
    assert "Remove" not in visible_text(page)
    refused = client.post(f"/registry/{reg.id}/submit", data={"csrf_token": re.search(
        r'name="csrf-token" content="([^"]+)"', page).group(1)}, follow_redirects=False)  # type: ignore[union-attr]
    assert refused.status_code in (403, 404)
