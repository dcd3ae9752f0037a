"""A portal form shows every field's error at once, beside its field, in the reader's language.

A first user's complaint was that errors came one field at a time: fix one, submit, meet the next.
These tests post the organisation application with three bad fields and read the page as a person
does (the text, not the markup), in Chinese and in English.
"""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from qianshu.accounts.models import Organisation
from qianshu.core.forms import field_id
from qianshu.core.i18n import LANG_COOKIE
from tests.accounts.test_portal import csrf
from tests.factories import make_uscc

GOOD = {
    "name": "黔东南数据有限公司", "name_en": "", "org_type": "data_merchant", "uscc": make_uscc(424242),
    "division_code": "520100", "contact_name": "王芳", "contact_email": "wang@example.cn", "contact_phone": "",
    "admin_name": "王芳", "admin_email": "admin@example.cn", "password": "a-long-password-1",
}
# Three fields wrong at once: no name, an e-mail address that is not one, a phone number with letters.
BAD = GOOD | {"name": "", "contact_email": "not-an-address", "contact_phone": "call me"}


def visible_text(page: str) -> str:
    """What a person reads: the text without tags, scripts or styles, spaces collapsed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body))).strip()


def _summary(page: str) -> str:
    found = re.search(r'<div class="error error-summary" id="form-errors".*?</div>', page, flags=re.S)
    assert found, "no error summary at the top of the form"
    return visible_text(found.group(0))


def beside(page: str, field: str, form: str = "") -> str:
    """The message shown beside ``field`` of ``form`` (the element its input's aria-describedby
    names), as read; the input must be marked invalid and tied to it."""
    ident = field_id(field, form)
    tag = re.search(rf'<[a-z]+\b[^>]*\bid="{ident}"[^>]*>', page)  # an input, or the element a figure is shown in
    assert tag, field
    assert 'aria-invalid="true"' in tag.group(0), field
    described = re.search(r'aria-describedby="([^"]*)"', tag.group(0))  # a file field's also names the chosen file
    assert described, field
    assert f"{ident}-error" in described.group(1).split(), field
    found = re.search(rf'<span class="field-error" id="{ident}-error">(.*?)</span>', page, flags=re.S)
    assert found, f"no message beside {field}"
    return visible_text(found.group(1))


@pytest.mark.parametrize(("lang", "expected"), [
    ("zh", {"name": "机构名称 为必填项。", "contact_email": "联系邮箱 格式不正确。",
            "contact_phone": "联系电话 格式不正确。"}),
    ("en", {"name": "Organisation name is required.", "contact_email": "Contact e-mail is not in the expected format.",
            "contact_phone": "Contact phone is not in the expected format."}),
])
def test_three_bad_fields_show_three_errors_at_once(client, db, lang, expected) -> None:
    client.cookies.set(LANG_COOKIE, lang)
    token = csrf(client, "/apply")
    r = client.post("/apply", data=BAD | {"csrf_token": token})
    assert r.status_code == 422
    page = r.text
    summary = _summary(page)
    heading = {"zh": "请更正以下 3 处问题", "en": "Please correct 3 problems"}[lang]
    assert heading in summary
    for field, words in expected.items():
        shown = beside(page, field)
        assert words.rstrip("。.") in shown, (field, shown)
        assert words.rstrip("。.") in summary
    # one language only: no English field key or English sentence on the Chinese page, and no Chinese on the English one
    if lang == "zh":
        assert not re.search(r"\b(contact_email|contact_phone|is required|expected format)\b", summary)
    else:
        assert not re.search(r"[\u3400-\u9fff]", summary)
    # what the person typed is kept (except the password), the summary can take the focus
    for kept in ("not-an-address", "call me", GOOD["uscc"]):
        assert f'value="{kept}"' in page
    assert "a-long-password-1" not in page
    assert 'tabindex="-1"' in page
    assert "/static/web/forms.js" in page
    assert db.scalar(select(func.count()).select_from(Organisation).where(Organisation.uscc == GOOD["uscc"])) == 0


def test_a_domain_error_after_validation_names_its_field_and_writes_nothing(client, db, make) -> None:
    existing = make.org()
    token = csrf(client, "/apply")
    before = db.scalar(select(func.count()).select_from(Organisation))
    r = client.post("/apply", data=GOOD | {"uscc": existing.uscc, "admin_email": "other@example.cn",
                                           "csrf_token": token})
    assert r.status_code == 409
    assert _summary(r.text)
    assert f'value="{existing.uscc}"' in r.text  # the input is kept
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Organisation)) == before


def test_sign_in_names_both_missing_fields(client) -> None:
    client.cookies.set(LANG_COOKIE, "en")
    token = csrf(client)
    r = client.post("/sign-in", data={"email": "", "password": "", "csrf_token": token})
    assert r.status_code == 422
    summary = _summary(r.text)
    assert "Please correct 2 problems" in summary
    assert "E-mail is required." in summary
    assert "Password is required." in summary
