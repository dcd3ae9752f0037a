"""A user's jurisdiction: set by an operator or their organisation's administrator, validated against
the known division codes, and read by the policy (a government caseworker sees the registrations of
their county and no others)."""

from __future__ import annotations

from typing import Any

from qianshu.accounts.models import User
from qianshu.core.audit import AuditEvent
from qianshu.registry.models import Registration


def _put(client: Any, headers: dict[str, str], user_id: int, code: str | None, lang: str = "zh") -> Any:
    return client.put(f"/api/v1/users/{user_id}/jurisdiction", json={"jurisdiction": code},
                      headers={**headers, "Accept-Language": lang})


def test_an_operator_sets_and_clears_any_users_jurisdiction(client, db, make, bearer) -> None:
    operator = make.operator()
    caseworker = make.user(organisation=make.org(org_type="government"), org_role="member")
    headers = bearer(operator)
    r = _put(client, headers, caseworker.id, "520102001")
    assert r.status_code == 200, r.text
    assert r.json()["jurisdiction"] == "520102001"
    db.refresh(caseworker)
    assert caseworker.jurisdiction == "520102001"
    assert db.query(AuditEvent).filter_by(action="user.jurisdiction_set", target_id=str(caseworker.id)).count() == 1
    assert _put(client, headers, caseworker.id, None).json()["jurisdiction"] is None


def test_an_unknown_code_is_refused_in_the_readers_language(client, make, bearer) -> None:
    headers = bearer(make.operator())
    target = make.user()
    zh = _put(client, headers, target.id, "520199", "zh")
    en = _put(client, headers, target.id, "520199", "en")
    assert zh.status_code == en.status_code == 422
    assert "不是有效的行政区划代码" in zh.json()["detail"]
    assert "is not a known division code" in en.json()["detail"]
    short = _put(client, headers, target.id, "5201", "en")
    assert "must be a division code of 6, 9 or 12 digits" in short.json()["detail"]


def test_an_administrator_sets_only_their_own_users_and_a_member_none(client, make, bearer) -> None:
    org = make.org(org_type="government")
    admin = make.user(organisation=org, org_role="admin")
    member = make.user(organisation=org, org_role="member")
    stranger = make.user()
    assert _put(client, bearer(admin), member.id, "520100").status_code == 200
    assert _put(client, bearer(admin), stranger.id, "520100").status_code == 404  # not admitted to exist
    assert _put(client, bearer(member), admin.id, "520100").status_code == 403
    assert _put(client, {}, member.id, "520100").status_code == 401


def _registration(db: Any, holder_org_id: int, division: str) -> int:
    reg = Registration(holder_org_id=holder_org_id, status="submitted", title_zh="区县数据", title_en="County data",
                       division_code=division)
    db.add(reg)
    db.flush()
    return reg.id


def test_a_caseworker_sees_exactly_the_registrations_of_their_jurisdiction(client, db, make, bearer) -> None:
    holder = make.user()
    inside = _registration(db, holder.org_id, "520102")
    outside = _registration(db, holder.org_id, "520103")
    nowhere = _registration(db, holder.org_id, "")
    department = make.org(org_type="government")
    caseworker = make.user(organisation=department, org_role="member", jurisdiction="520100")
    headers = bearer(caseworker)
    assert client.get(f"/api/v1/registrations/{inside}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/registrations/{outside}", headers=headers).status_code == 200  # 520103 is in 520100
    assert client.get(f"/api/v1/registrations/{nowhere}", headers=headers).status_code == 404
    county = make.user(organisation=department, org_role="member", jurisdiction="520102")
    assert client.get(f"/api/v1/registrations/{inside}", headers=bearer(county)).status_code == 200
    assert client.get(f"/api/v1/registrations/{outside}", headers=bearer(county)).status_code == 404
    # Without a jurisdiction a government user sees what they saw before: nothing of another holder's.
    plain = make.user(organisation=department, org_role="member")
    assert client.get(f"/api/v1/registrations/{inside}", headers=bearer(plain)).status_code == 404
    # A jurisdiction alone gives nothing to a user of another organisation type.
    merchant = make.user(jurisdiction="520102")
    assert client.get(f"/api/v1/registrations/{inside}", headers=bearer(merchant)).status_code == 404


def test_a_caseworkers_list_holds_the_registrations_of_their_jurisdiction(client, db, make, bearer) -> None:
    holder = make.user()
    inside = _registration(db, holder.org_id, "520102")
    outside = _registration(db, holder.org_id, "520201")
    department = make.org(org_type="government")
    county = make.user(organisation=department, org_role="member", jurisdiction="520102")
    listed = {r["id"] for r in client.get("/api/v1/registrations", headers=bearer(county)).json()}
    assert inside in listed
    assert outside not in listed
    township = make.user(organisation=department, org_role="member", jurisdiction="520102001")
    assert client.get("/api/v1/registrations", headers=bearer(township)).json() == []  # no county record is in it
    plain = make.user(organisation=department, org_role="member")
    assert client.get("/api/v1/registrations", headers=bearer(plain)).json() == []


def test_the_jurisdiction_is_a_column_of_users(db, make) -> None:
    user = make.user(jurisdiction="520102001001")
    db.expire_all()
    assert db.get(User, user.id).jurisdiction == "520102001001"  # type: ignore[union-attr]


def test_the_staff_command_sets_a_jurisdiction_and_refuses_an_unknown_code(monkeypatch, tmp_path,
                                                                           isolated_database) -> None:
    from typer.testing import CliRunner

    from qianshu.cli import app
    from qianshu.core.settings import get_settings
    from tests.data_folder import make_data_folder

    monkeypatch.setenv("QIANSHU_DATA_DIR", str(make_data_folder(tmp_path / "cli-data")))
    monkeypatch.setenv("QIANSHU_DATABASE_URL", isolated_database.url)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        created = runner.invoke(app, ["staff", "create", "audit@qianshu.cn", "--name", "县审计", "--role", "auditor",
                                      "--password", "long-enough-password", "--jurisdiction", "520102"])
        assert created.exit_code == 0, created.output
        bad = runner.invoke(app, ["staff", "jurisdiction", "audit@qianshu.cn", "520199"])
        assert bad.exit_code != 0
        assert "不是有效的行政区划代码" in bad.output
        assert "is not a known division code" in " ".join(bad.output.split())
        moved = runner.invoke(app, ["staff", "jurisdiction", "audit@qianshu.cn", "520102001"])
        assert moved.exit_code == 0, moved.output
        with isolated_database.unit_of_work(write=False) as db:
            user = db.query(User).filter_by(email="audit@qianshu.cn").one()
            assert user.jurisdiction == "520102001"
        cleared = runner.invoke(app, ["staff", "jurisdiction", "audit@qianshu.cn", "none"])
        assert cleared.exit_code == 0, cleared.output
        with isolated_database.unit_of_work(write=False) as db:
            assert db.query(User).filter_by(email="audit@qianshu.cn").one().jurisdiction is None
    finally:
        get_settings.cache_clear()


def test_an_administrator_places_a_caseworker_from_the_organisation_page(client, db, make) -> None:
    """The portal, not only the API: a county through the picker, a village typed beside it, a bad
    code refused beside the field in the reader's language with nothing changed."""
    from tests.accounts.test_form_errors import visible_text
    from tests.accounts.test_portal import csrf, sign_in

    org = make.org(org_type="government")
    admin = make.user(organisation=org, org_role="admin")
    caseworker = make.user(organisation=org, org_role="member")
    stranger = make.user()
    sign_in(client, admin.email)
    page = client.get("/org").text
    assert f'action="/org/users/{caseworker.id}/jurisdiction"' in page
    token = csrf(client, "/org")
    r = client.post(f"/org/users/{caseworker.id}/jurisdiction",
                    data={"jurisdiction": "520102", "finer": "", "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    db.refresh(caseworker)
    assert caseworker.jurisdiction == "520102"
    r = client.post(f"/org/users/{caseworker.id}/jurisdiction",
                    data={"jurisdiction": "520102", "finer": "520102001001", "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303
    db.refresh(caseworker)
    assert caseworker.jurisdiction == "520102001001"
    r = client.post(f"/org/users/{caseworker.id}/jurisdiction",
                    data={"jurisdiction": "", "finer": "520199000", "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 422
    assert f'id="f-jurisdiction-{caseworker.id}-jurisdiction" aria-invalid="true"' in r.text
    assert "管辖区域：不在已知的县级行政区划之内" in visible_text(r.text)
    db.refresh(caseworker)
    assert caseworker.jurisdiction == "520102001001"
    r = client.post(f"/org/users/{stranger.id}/jurisdiction",
                    data={"jurisdiction": "520102", "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 404
    db.refresh(stranger)
    assert stranger.jurisdiction is None


def test_a_member_sees_jurisdictions_but_no_form(client, db, make) -> None:
    from tests.accounts.test_portal import sign_in

    org = make.org(org_type="government")
    make.user(organisation=org, org_role="admin", jurisdiction="520102")
    member = make.user(organisation=org, org_role="member")
    sign_in(client, member.email)
    page = client.get("/org", headers={"Accept-Language": "zh"}).text
    assert "/jurisdiction\"" not in page
    assert "南明区" in page
    assert "520102" in page
