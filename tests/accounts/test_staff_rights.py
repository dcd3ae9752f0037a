"""Staff have exactly their documented rights: only operators administer the exchange's own users."""

from __future__ import annotations

import re

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.orm import Session

from qianshu.accounts import service
from qianshu.accounts.models import Organisation, User
from qianshu.core.actor import SYSTEM
from qianshu.core.db import Database
from qianshu.core.migrate import alembic_config, upgrade
from qianshu.core.timeutil import utcnow


def _portal_post(client, db, settings, user: User, url: str, data: dict[str, str]) -> int:
    raw = service.start_session(db, settings, user, "127.0.0.1", "test")
    db.flush()
    client.cookies.clear()
    client.cookies.set("qs_session", raw)
    token = re.search(r'name="csrf-token" content="([0-9a-f]+)"', client.get("/").text).group(1)  # type: ignore[union-attr]
    return client.post(url, data={**data, "csrf_token": token}, follow_redirects=False).status_code


# org_role "admin" is what earlier releases gave every staff user: the rule must not lean on it.
@pytest.mark.parametrize("org_role", ["member", "admin"])
@pytest.mark.parametrize("staff_role", ["reviewer", "auditor"])
def test_reviewers_and_auditors_cannot_invite_or_remove_anyone(staff_role: str, org_role: str, client, db, make,
                                                              bearer, settings) -> None:
    operator = make.operator()
    staff = make.user(organisation=operator.organisation, staff_role=staff_role, org_role=org_role)
    colleague = make.user(organisation=operator.organisation, staff_role="reviewer", org_role="member")

    for target in (operator, colleague):
        r = client.delete(f"/api/v1/users/{target.id}", headers=bearer(staff))
        assert r.status_code == 403, r.text
        assert _portal_post(client, db, settings, staff, f"/org/users/{target.id}/remove", {}) == 403
    r = client.post("/api/v1/invitations", json={"email": "new-admin@x.cn", "display_name": "n", "org_role": "admin"},
                    headers=bearer(staff))
    assert r.status_code == 403, r.text
    assert _portal_post(client, db, settings, staff, "/org/invitations",
                        {"email": "new-admin2@x.cn", "display_name": "n", "org_role": "admin"}) == 403
    db.refresh(operator)
    db.refresh(colleague)
    assert operator.is_active
    assert colleague.is_active
    client.cookies.clear()
    assert client.get("/api/v1/me", headers=bearer(operator)).status_code == 200
    page = _portal_get_org(client, db, settings, staff)
    assert "/org/invitations" not in page
    assert "/remove" not in page


def _portal_get_org(client, db, settings, user: User) -> str:
    raw = service.start_session(db, settings, user, "127.0.0.1", "test")
    db.flush()
    client.cookies.clear()
    client.cookies.set("qs_session", raw)
    return client.get("/org").text


def test_operators_administer_the_exchange_organisations_users(client, db, make, bearer) -> None:
    operator = make.operator()
    auditor = make.user(organisation=operator.organisation, staff_role="auditor", org_role="member")
    r = client.post("/api/v1/invitations", json={"email": "colleague@x.cn", "display_name": "n"},
                    headers=bearer(operator))
    assert r.status_code == 201, r.text
    assert client.delete(f"/api/v1/users/{auditor.id}", headers=bearer(operator)).status_code == 204


def test_a_non_staff_administrator_of_the_exchange_cannot_remove_an_operator(client, make, bearer) -> None:
    operator = make.operator()
    invited_admin = make.user(organisation=operator.organisation, org_role="admin")
    assert client.delete(f"/api/v1/users/{operator.id}", headers=bearer(invited_admin)).status_code == 403


def test_staff_users_are_created_with_their_rights_only(db, make, settings) -> None:
    org = service.ensure_exchange_operator(db, settings, settings.exchange_uscc)
    roles = {role: service.create_staff_user(db, SYSTEM, org, f"{role}@x.cn", role, "long-enough-pw", role).org_role
             for role in ("operator", "reviewer", "auditor")}
    assert roles == {"operator": "admin", "reviewer": "member", "auditor": "member"}


def test_the_migration_takes_administration_from_reviewers_and_auditors(isolated_database: Database) -> None:
    url = isolated_database.url
    command.downgrade(alembic_config(url), "0005_search_index")
    engine = isolated_database.engine
    with Session(engine) as db:  # organisations have the same schema before and after
        org = Organisation(name="交易所", org_type="exchange_operator", uscc="91520100MA6DKQ0001",
                           division_code="520100", contact_name="", contact_email="", status="approved")
        db.add(org)
        db.commit()
        org_id = org.id
    with engine.begin() as conn:  # users, in SQL: the model has a column (jurisdiction) that 0005 lacks
        for role in ("operator", "reviewer", "auditor", None):
            conn.execute(text("INSERT INTO users (org_id, email, display_name, org_role, staff_role, is_active,"
                              " created_at) VALUES (:org, :email, 'n', 'admin', :role, :active, :at)"),
                         {"org": org_id, "email": f"{role}@x.cn", "role": role, "active": True, "at": utcnow()})
    engine.dispose()
    upgrade(url)
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT email, org_role FROM users WHERE org_id = :org"), {"org": org_id}).all())
    assert rows == {"operator@x.cn": "admin", "reviewer@x.cn": "member", "auditor@x.cn": "member",
                    "None@x.cn": "admin"}
