"""Applying to join, operator review, and the bad input the application form must survive."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from qianshu.accounts import service
from qianshu.accounts.models import Organisation
from qianshu.accounts.schemas import OrganisationApplication
from qianshu.core.actor import ANONYMOUS
from qianshu.core.audit import AuditEvent
from qianshu.core.db import Database
from qianshu.core.errors import Conflict
from tests.factories import make_uscc


def application(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "贵州云上数据有限公司", "name_en": "Guizhou Cloud Data Co.", "org_type": "data_merchant",
        "uscc": make_uscc(987654), "division_code": "520115", "contact_name": "王五",
        "contact_email": "wang@yunshang.cn", "contact_phone": "0851-12345678", "admin_name": "王五",
        "admin_email": "Admin@Yunshang.cn", "password": "a-long-enough-password",
    }
    data.update(overrides)
    return data


def test_apply_then_operator_approves(client, make, bearer) -> None:
    r = client.post("/api/v1/organisations", json=application())
    assert r.status_code == 201, r.text
    org = r.json()
    assert org["status"] == "pending"
    op = make.operator()
    r = client.post(f"/api/v1/organisations/{org['id']}/approve", json={}, headers=bearer(op))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved"


def test_reject_needs_a_reason_and_keeps_it(client, make, bearer) -> None:
    org_id = client.post("/api/v1/organisations", json=application()).json()["id"]
    headers = bearer(make.operator())
    r = client.post(f"/api/v1/organisations/{org_id}/reject", json={"reason": ""}, headers=headers)
    assert r.status_code == 422
    r = client.post(f"/api/v1/organisations/{org_id}/reject", json={"reason": "营业执照已注销"}, headers=headers)
    assert r.json()["status"] == "rejected"
    assert r.json()["review_reason"] == "营业执照已注销"


def test_duplicate_uscc_is_409_in_the_callers_language(client) -> None:
    assert client.post("/api/v1/organisations", json=application()).status_code == 201
    r = client.post("/api/v1/organisations", json=application(admin_email="other@x.cn"),
                    headers={"Accept-Language": "en"})
    assert r.status_code == 409
    assert r.json()["code"] == "organisation_exists"
    assert "already exists" in r.json()["detail"]
    r = client.post("/api/v1/organisations", json=application(admin_email="third@x.cn"))
    assert "已存在" in r.json()["detail"]


@pytest.mark.parametrize(("uscc", "reason_zh"), [
    ("91520100MA6DQ7JX0A", "校验码"),          # wrong check character
    ("91520100MA6DQ7JX0", "18"),              # too short
    ("９１５２０１００ＭＡ６ＤＱ７ＪＸ０Ｗ", "全角"),  # full-width
    ("91520100 MA6DQ7JX0W", "空格"),          # inner space
    ("91520100MA6DQ7JXOW", "字符"),           # letter O is not in the alphabet
])
def test_bad_uscc_is_422_naming_the_field(client, uscc: str, reason_zh: str) -> None:
    r = client.post("/api/v1/organisations", json=application(uscc=uscc))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == "uscc"
    assert reason_zh in body["detail"]


@pytest.mark.parametrize("code", ["52010", "5201021", "520199", "990000", "５２０１０２"])
def test_bad_division_code(client, code: str) -> None:
    r = client.post("/api/v1/organisations", json=application(division_code=code))
    assert r.status_code == 422
    assert r.json()["field"] == "division_code"


def test_unknown_fields_and_huge_strings_are_422_not_500(client) -> None:
    r = client.post("/api/v1/organisations", json=application(is_admin=True), headers={"Accept-Language": "en"})
    assert r.status_code == 422
    assert "Unknown field" in r.json()["detail"]
    r = client.post("/api/v1/organisations", json=application(name="数" * 300_000))
    assert r.status_code == 422
    assert r.json()["field"] == "name"
    r = client.post("/api/v1/organisations", json=application(name="数" * 1_000_000))
    assert r.status_code == 413  # over request_max_bytes: refused before it is parsed


def test_sql_and_html_are_stored_verbatim_and_shown_escaped(client, make, bearer) -> None:
    hostile = "<script>alert(1)</script>'); DROP TABLE organisations;--"
    r = client.post("/api/v1/organisations", json=application(name=hostile))
    assert r.status_code == 201
    assert r.json()["name"] == hostile
    op = make.operator()
    client.cookies.clear()
    page = _signed_in_page(client, op, "/operator/organisations")
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def _signed_in_page(client, user, path: str) -> str:
    from tests.accounts.test_portal import sign_in

    sign_in(client, user.email)
    return client.get(path).text


def test_control_characters_are_refused(client) -> None:
    r = client.post("/api/v1/organisations", json=application(name="abc\x00def"))
    assert r.status_code == 422


def test_operator_org_cannot_be_applied_for(client) -> None:
    assert client.post("/api/v1/organisations", json=application(org_type="exchange_operator")).status_code == 422


def test_only_operators_review(client, make, bearer) -> None:
    org_id = client.post("/api/v1/organisations", json=application()).json()["id"]
    merchant = make.user()
    reviewer = make.operator(staff_role="reviewer")
    assert client.post(f"/api/v1/organisations/{org_id}/approve", json={}, headers=bearer(merchant)).status_code == 403
    assert client.post(f"/api/v1/organisations/{org_id}/approve", json={}, headers=bearer(reviewer)).status_code == 403


def test_every_decision_is_audited(db, make) -> None:
    org = service.apply_organisation(db, ANONYMOUS, OrganisationApplication.model_validate(application()))
    op = make.operator()
    service.review_organisation(db, make.actor(op), org.id, "approve")
    actions = db.scalars(select(AuditEvent.action).where(AuditEvent.target_org_id == org.id)).all()
    assert actions == ["organisation.applied", "organisation.approved"]


def test_two_operators_approving_at_once(isolated_database: Database) -> None:
    """Exactly one decision is applied; the other operator is told it was already decided."""
    from tests.factories import Factories

    with isolated_database.unit_of_work() as db:
        org = service.apply_organisation(db, ANONYMOUS, OrganisationApplication.model_validate(application()))
        make = Factories(db)
        actors = [make.actor(make.operator(email=f"op{i}@x.cn")) for i in range(2)]
        org_id = org.id
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def decide(actor: object, decision: str) -> None:
        barrier.wait()
        try:
            with isolated_database.unit_of_work() as db:
                service.review_organisation(db, actor, org_id, decision, reason="x")  # type: ignore[arg-type]
            outcomes.append("applied")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=decide, args=(a, d)) for a, d in zip(actors, ["approve", "reject"], strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["applied", "conflict"]
    with isolated_database.unit_of_work(write=False) as db:
        final = db.get_one(Organisation, org_id)
        assert final.status in ("approved", "rejected")
        assert final.version == 2
