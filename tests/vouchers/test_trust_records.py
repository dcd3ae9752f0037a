"""Related parties and broken-trust records as the administrator keeps them in the portal
(``/vouchers/programmes/{id}/trust``) and the API: the rules against abuse follow each change, every
change is audited, a refused form comes back with its errors beside their fields in the reader's
language and nothing written, only the programme's administrator gets the page, and two submissions
at once over real HTTP make one change."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from qianshu.accounts import service as accounts
from qianshu.core.audit import AuditEvent
from qianshu.core.db import Database
from qianshu.core.errors import Conflict
from qianshu.core.i18n import LANG_COOKIE
from qianshu.core.identifiers import uscc_check_char
from qianshu.core.settings import Settings
from qianshu.vouchers import redemption, schemas, service
from qianshu.vouchers.models import BrokenTrust, RelatedParties
from qianshu.web.app import create_app
from tests.accounts.test_form_errors import beside
from tests.factories import Factories
from tests.vouchers.conftest import World, build_world, issue
from tests.vouchers.test_api_pages import _sign_in
from tests.vouchers.test_concurrency import _at_once
from tests.web.live import live_server

# a well-formed USCC that no organisation has
NOBODY = "91520000MA00000000"[:17] + uscc_check_char("91520000MA00000000"[:17])
BAD_CHECK = NOBODY[:17] + ("1" if NOBODY[17] != "1" else "2")  # 18 characters, its check character wrong


def _uscc(db: Any, user: Any) -> str:
    return accounts.organisations_by_id(db, [user.org_id])[user.org_id].uscc


def _order(world: World, vouchers: list[int]) -> schemas.OrderIn:
    return schemas.OrderIn(offering_id=world.offering_id, card_hours=100, month=service.today().strftime("%Y-%m"),
                           purpose="large_model_training", voucher_ids=vouchers)


def _apply(db: Any, world: World) -> Any:
    return service.apply(db, world.actor(world.company), world.programme_id, schemas.ApplicationIn(
        purpose="large_model_training", company_size="small", planned_use="训练交通行业大模型", requested_fen=100_00))


def _audited(db: Any, action: str) -> int:
    return int(db.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == action)) or 0)


def test_marking_and_unmarking_related_parties_in_the_portal(client, db, world: World) -> None:
    vouchers = issue(db, world, world.company)
    token = _sign_in(client, db, world.admin)
    page = client.get(f"/vouchers/programmes/{world.programme_id}")
    assert f'href="/vouchers/programmes/{world.programme_id}/trust"' in page.text
    base = f"/vouchers/programmes/{world.programme_id}"
    r = client.post(f"{base}/related", follow_redirects=False, data={
        "csrf_token": token, "org_a_id": _uscc(db, world.provider), "org_b_id": _uscc(db, world.company).lower(),
        "reason": "同一实际控制人"})
    assert r.status_code == 303
    assert r.headers["location"] == f"{base}/trust"
    with pytest.raises(Conflict) as refused:  # the rule against abuse reads the mark
        redemption.place_order(db, world.actor(world.company), world.programme_id, _order(world, vouchers))
    assert refused.value.code == "related_parties"
    listed = client.get(f"{base}/trust")
    assert "同一实际控制人" in listed.text
    assert f'id="unmark-form-{min(world.provider.org_id, world.company.org_id)}' in listed.text
    a, b = sorted((world.provider.org_id, world.company.org_id))
    # unmarking needs a reason: the page again, the error beside it, in the reader's language
    for lang, word in (("zh", "理由"), ("en", "Reason")):
        client.cookies.set(LANG_COOKIE, lang)
        empty = client.post(f"{base}/related/{a}/{b}/unmark", data={"csrf_token": token, "reason": " "},
                            follow_redirects=False)
        assert empty.status_code == 422
        assert word in beside(empty.text, "reason", f"unmark-{a}-{b}")
    assert db.scalar(select(RelatedParties.unmarked_at)) is None
    done = client.post(f"{base}/related/{a}/{b}/unmark", data={"csrf_token": token, "reason": "股权已转让"},
                       follow_redirects=False)
    assert done.status_code == 303
    order = redemption.place_order(db, world.actor(world.company), world.programme_id, _order(world, vouchers))
    assert order.voucher_fen > 0
    again = client.post(f"{base}/related/{a}/{b}/unmark", data={"csrf_token": token, "reason": "再次"},
                        follow_redirects=False)
    assert again.status_code == 409
    assert "not marked related" in again.text  # in the summary: the pair has no unmark form any more
    assert "股权已转让" in client.get(f"{base}/trust").text
    assert _audited(db, "vouchers.related_marked") == 1
    assert _audited(db, "vouchers.related_unmarked") == 1


@pytest.mark.parametrize(("lang", "words"), [
    ("zh", {"org_a_id": "机构（名称或统一社会信用代码）", "org_b_id": "没有机构", "summary": "请更正以下 2 处问题"}),
    ("en", {"org_a_id": "Organisation (name or USCC)", "org_b_id": "No organisation has the USCC",
            "summary": "Please correct 2 problems"}),
])
def test_a_bad_uscc_comes_back_beside_its_field(client, db, world: World, lang: str, words: dict[str, str]) -> None:
    token = _sign_in(client, db, world.admin)
    client.cookies.set(LANG_COOKIE, lang)
    r = client.post(f"/vouchers/programmes/{world.programme_id}/related", follow_redirects=False, data={
        "csrf_token": token, "org_a_id": BAD_CHECK, "org_b_id": NOBODY, "reason": "x"})
    assert r.status_code == 422
    assert words["org_a_id"] in beside(r.text, "org_a_id", "related")
    assert words["org_b_id"] in beside(r.text, "org_b_id", "related")
    assert words["summary"] in r.text
    assert f'value="{BAD_CHECK}"' in r.text
    assert db.scalar(select(func.count(RelatedParties.id))) == 0


def test_a_broken_trust_record_stops_applications_until_it_is_lifted(client, db, world: World) -> None:
    token = _sign_in(client, db, world.admin)
    base = f"/vouchers/programmes/{world.programme_id}"
    missing = client.post(f"{base}/broken-trust", follow_redirects=False, data={
        "csrf_token": token, "org_id": _uscc(db, world.company), "source": "", "reason": ""})
    assert missing.status_code == 422
    assert beside(missing.text, "source", "trust")
    assert beside(missing.text, "reason", "trust")
    assert db.scalar(select(func.count(BrokenTrust.id))) == 0
    r = client.post(f"{base}/broken-trust", follow_redirects=False, data={
        "csrf_token": token, "org_id": _uscc(db, world.company), "source": "信用中国",
        "reason": "列入严重失信主体名单"})
    assert r.status_code == 303
    db.expire_all()
    assert service.broken_trust_in_force(db, world.company.org_id)
    with pytest.raises(Conflict) as refused:
        _apply(db, world)
    assert refused.value.code == "broken_trust"
    twice = client.post(f"{base}/broken-trust", follow_redirects=False, data={
        "csrf_token": token, "org_id": _uscc(db, world.company), "source": "信用中国", "reason": "再次"})
    assert twice.status_code == 409
    assert "失信" in beside(twice.text, "org_id", "trust")
    # the list, searched by name and by USCC
    name = accounts.organisations_by_id(db, [world.company.org_id])[world.company.org_id].name
    for query in (name[2:6], _uscc(db, world.company)[-6:]):
        found = client.get(f"{base}/trust", params={"q": query})
        assert "列入严重失信主体名单" in found.text
    assert "列入严重失信主体名单" not in client.get(f"{base}/trust", params={"q": "不存在的机构"}).text
    lifted = client.post(f"{base}/broken-trust/{world.company.org_id}/lift", follow_redirects=False,
                         data={"csrf_token": token, "reason": "信用修复完成"})
    assert lifted.status_code == 303
    db.expire_all()
    assert _apply(db, world).status == "pending"
    assert "信用修复完成" in client.get(f"{base}/trust").text
    assert _audited(db, "vouchers.broken_trust_recorded") == 1
    assert _audited(db, "vouchers.broken_trust_lifted") == 1


def test_only_the_programmes_administrator_keeps_the_records(client, db, world: World, make) -> None:
    path = f"/vouchers/programmes/{world.programme_id}/trust"
    for user in (world.company, world.provider, make.user(organisation=make.org(org_type="voucher_administrator"))):
        client.cookies.clear()
        token = _sign_in(client, db, user)
        assert client.get(path).status_code in (403, 404)
        r = client.post(f"/vouchers/programmes/{world.programme_id}/broken-trust", follow_redirects=False, data={
            "csrf_token": token, "org_id": _uscc(db, world.company), "source": "信用中国", "reason": "列入名单"})
        assert r.status_code in (403, 404)
        assert 'id="trust-form"' not in r.text
    client.cookies.clear()
    assert client.get(path, follow_redirects=False).status_code in (303, 401)
    assert db.scalar(select(func.count(BrokenTrust.id))) == 0


def test_the_api_uses_the_same_records(client, bearer, db, world: World) -> None:
    base = f"/api/v1/vouchers/programmes/{world.programme_id}"
    admin = bearer(world.admin)
    body = {"org_id": world.company.org_id, "source": "信用中国", "reason": "列入严重失信主体名单"}
    assert client.post(f"{base}/broken-trust", json=body, headers=admin).status_code == 201
    for lang, word in (("zh", "失信"), ("en", "broken-trust")):
        again = client.post(f"{base}/broken-trust", json=body, headers={**admin, "Accept-Language": lang})
        assert again.status_code == 409
        assert again.json()["code"] == "broken_trust_recorded"
        assert word in again.json()["detail"]
    listed = client.get(f"{base}/trust-records", params={"q": _uscc(db, world.company)}, headers=admin).json()
    assert [t["org"]["id"] for t in listed["broken_trust"]] == [world.company.org_id]
    assert client.get(f"{base}/trust-records", headers=bearer(world.company)).status_code in (403, 404)
    no_reason = client.post(f"{base}/broken-trust/lift", json={"org_id": world.company.org_id, "reason": ""},
                            headers=admin)
    assert no_reason.status_code == 422
    assert client.post(f"{base}/broken-trust/lift", json={"org_id": world.company.org_id, "reason": "信用修复"},
                       headers=admin).json()["lifted"] is True
    pair = {"org_a_id": world.company.org_id, "org_b_id": world.provider.org_id}
    assert client.post(f"{base}/related-parties", json=pair, headers=admin).status_code == 201
    assert client.post(f"{base}/related-parties", json=pair, headers=admin).status_code == 201  # a no-op
    assert db.scalar(select(func.count(RelatedParties.id))) == 1
    assert client.post(f"{base}/related-parties/unmark", json={**pair, "reason": "股权已转让"},
                       headers=admin).json()["unmarked"] is True
    assert client.post(f"{base}/related-parties/unmark", json={**pair, "reason": "股权已转让"},
                       headers=admin).status_code == 409


def test_exclusions_given_at_creation_are_records_that_can_be_lifted(db, world: World, make) -> None:
    from tests.vouchers.conftest import programme_in

    admin = make.user(organisation=make.org(org_type="voucher_administrator"))
    from qianshu.ledger import service as ledger
    ledger.deposit(db, make.actor(make.operator(staff_role="operator")), org_id=admin.org_id,
                   amount_fen=10_000_000_00, bank_reference="DEP-x")
    programme = service.create_programme(db, make.actor(admin), programme_in(
        [world.provider.org_id], kind="model", excluded_org_ids=[world.company.org_id]))
    from qianshu.vouchers import trust

    records = trust.trust_records(db, make.actor(admin), programme.id)
    assert [t.org.id for t in records.broken_trust] == [world.company.org_id]
    trust.lift_broken_trust(db, make.actor(admin), programme.id, schemas.LiftBrokenTrustIn(
        org_id=world.company.org_id, reason="误列"))
    assert not service.broken_trust_in_force(db, world.company.org_id)


@pytest.mark.slow
def test_two_submissions_at_once_over_http_make_one_change(isolated_database: Database, tmp_path: Path) -> None:
    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=isolated_database.url,
                        secret_key="test-secret-" + "x" * 32, run_jobs_in_process=False)
    with isolated_database.unit_of_work() as db:
        world = build_world(db, Factories(db))
        session = accounts.start_session(db, settings, world.admin, "127.0.0.1", "t")
        company_uscc, provider_uscc = _uscc(db, world.company), _uscc(db, world.provider)
        company_id, provider_id = world.company.org_id, world.provider.org_id
    base_path = f"/vouchers/programmes/{world.programme_id}"
    with live_server(create_app(settings, database=isolated_database)) as base:
        with httpx.Client(base_url=base, cookies={"qs_session": session}) as http:
            token = re.search(r'name="csrf-token" content="([0-9a-f]+)"', http.get("/").text).group(1)  # type: ignore[union-attr]
            jar = dict(http.cookies)  # the session and the CSRF cookie the token belongs to

        def post(path: str, data: dict[str, str]) -> Any:
            def send(i: int) -> httpx.Response:
                with httpx.Client(base_url=base, timeout=30, follow_redirects=False,
                                  cookies={**jar, LANG_COOKIE: "zh" if i % 2 else "en"}) as http:
                    return http.post(f"{base_path}{path}", data={"csrf_token": token, **data})
            return _at_once(send, 2)

        recorded = post("/broken-trust", {"org_id": company_uscc, "source": "信用中国", "reason": "列入名单"})
        lifted = post(f"/broken-trust/{company_id}/lift", {"reason": "信用修复"})
        marked = post("/related", {"org_a_id": company_uscc, "org_b_id": provider_uscc, "reason": "关联"})
        a, b = sorted((company_id, provider_id))
        unmarked = post(f"/related/{a}/{b}/unmark", {"reason": "股权已转让"})
    for pair in (recorded, lifted, unmarked):
        codes = sorted(r.status_code for r in pair)
        assert codes == [303, 409], [r.text[:300] for r in pair]
        refused = next(r for r in pair if r.status_code == 409)
        # the refusal is the records' page in the reader's language (the one who posted second)
        lang = "zh" if '<html lang="zh-CN">' in refused.text else "en"
        summary = refused.text[refused.text.index('id="form-errors"'):][:600]
        assert ("机构" in summary) if lang == "zh" else ("organisation" in summary), summary
    assert [r.status_code for r in marked] == [303, 303]  # marking what is marked changes nothing
    with isolated_database.unit_of_work(write=False) as db:
        assert db.scalar(select(func.count(BrokenTrust.id))) == 1
        assert db.scalar(select(func.count(RelatedParties.id))) == 1
        assert not service.broken_trust_in_force(db, company_id)
        for action in ("vouchers.broken_trust_recorded", "vouchers.broken_trust_lifted",
                       "vouchers.related_marked", "vouchers.related_unmarked"):
            assert _audited(db, action) == 1, action
