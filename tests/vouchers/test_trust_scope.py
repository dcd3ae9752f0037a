"""Broken-trust records and related-party marks are made by the administering organisation: made
through one of its programmes, they hold in all of them (applications, approvals, orders), are
listed on each programme's records page and lifted through any. A broken-trust record in force
binds every other administrator's programmes too and is shown to it read-only (joint discipline);
related-party marks do not touch another administrator's programmes. Migration 0037 keeps every
per-programme row. Over HTTP, on the database the suite runs on (SQLite or PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import func, select

from qianshu.accounts import service as accounts
from qianshu.core.db import Database
from qianshu.core.errors import Conflict
from qianshu.core.i18n import LANG_COOKIE
from qianshu.core.migrate import alembic_config, upgrade
from qianshu.ledger import service as ledger
from qianshu.vouchers import redemption, schemas, service, trust
from qianshu.vouchers.models import BrokenTrust, Programme, RelatedParties
from tests.factories import Factories
from tests.vouchers.conftest import World, build_world, programme_in
from tests.vouchers.test_api_pages import _sign_in
from tests.vouchers.test_trust_records import _audited, _order, _uscc

APPLICATION = {"purpose": "large_model_training", "company_size": "small", "planned_use": "训练交通行业大模型",
               "requested_fen": 10_000_00}


def _second_programme(db: Any, world: World, admin: Any = None, kind: str = "model",
                      providers: list[int] | None = None) -> Programme:
    """A programme of another kind than the compute one (so they do not overlap) of ``admin``."""
    admin = admin or world.admin
    ledger.deposit(db, world.actor(world.operator), org_id=admin.org_id, amount_fen=10_000_000_00,
                   bank_reference=f"DEP-second-{admin.org_id}")
    programme = service.create_programme(db, world.actor(admin), programme_in(
        providers or [world.provider.org_id], kind=kind, name_zh="贵州省模型券（测试）",
        name_en="Guizhou model vouchers (test)"))
    db.flush()
    return programme


def test_a_record_made_through_one_programme_holds_in_all_of_the_administrators(
        client, bearer, db, world: World, make) -> None:
    second = _second_programme(db, world)
    pending = service.apply(db, world.actor(world.company), second.id, schemas.ApplicationIn(**APPLICATION))
    token = _sign_in(client, db, world.admin)
    r = client.post(f"/vouchers/programmes/{world.programme_id}/broken-trust", follow_redirects=False, data={
        "csrf_token": token, "org_id": _uscc(db, world.company), "source": "信用中国",
        "reason": "列入严重失信主体名单"})
    assert r.status_code == 303
    company = bearer(world.company)
    refused = client.post(f"/api/v1/vouchers/programmes/{second.id}/applications", json=APPLICATION,
                          headers={**company, "Accept-Language": "zh"})
    assert refused.status_code == 409
    assert refused.json()["code"] == "broken_trust"
    # an application made before the record is not approved either
    decided = client.post(f"/api/v1/vouchers/applications/{pending.id}/decision", json={"approve": True},
                          headers={**bearer(world.admin), "Accept-Language": "en"})
    assert decided.status_code == 409
    assert "broken-trust" in decided.json()["detail"]
    # the second programme's page lists it, says which programme it was made through, and lifts it
    page = client.get(f"/vouchers/programmes/{second.id}/trust")
    assert "列入严重失信主体名单" in page.text
    assert "贵州省算力券（测试）" in page.text
    assert f'id="lift-form-{world.company.org_id}"' in page.text
    again = client.post(f"/vouchers/programmes/{second.id}/broken-trust", follow_redirects=False, data={
        "csrf_token": token, "org_id": _uscc(db, world.company), "source": "法院", "reason": "再次登记"})
    assert again.status_code == 409
    lifted = client.post(f"/vouchers/programmes/{second.id}/broken-trust/{world.company.org_id}/lift",
                         follow_redirects=False, data={"csrf_token": token, "reason": "信用修复完成"})
    assert lifted.status_code == 303
    assert client.post(f"/api/v1/vouchers/programmes/{world.programme_id}/applications", json=APPLICATION,
                       headers=company).status_code == 201
    assert _audited(db, "vouchers.broken_trust_recorded") == 1
    assert _audited(db, "vouchers.broken_trust_lifted") == 1
    # recorded again after the lift: a new row, the first one kept with why it was lifted
    assert client.post(f"/vouchers/programmes/{second.id}/broken-trust", follow_redirects=False, data={
        "csrf_token": token, "org_id": _uscc(db, world.company), "source": "法院", "reason": "再次登记"}
    ).status_code == 303
    rows = db.scalars(select(BrokenTrust).order_by(BrokenTrust.id)).all()
    assert [(t.programme_id, t.lift_reason, t.lifted_at is None) for t in rows] == [
        (world.programme_id, "信用修复完成", False), (second.id, "", True)]


def test_a_record_binds_every_administrator_and_only_its_maker_lifts_it(client, bearer, db, world: World,
                                                                         make) -> None:
    """Joint discipline (联合惩戒): another administrator's programmes refuse the company too; that
    administrator sees the record with who made it, read-only, may add its own, and sees none of the
    maker's history once lifted. Related-party marks stay with the administrator that made them."""
    other = make.user(organisation=make.org(org_type="voucher_administrator", name="遵义市大数据发展管理局",
                                            name_en="Zunyi Big Data Bureau"))
    elsewhere = _second_programme(db, world, other, "data", [make.org(org_type="data_merchant").id])
    ours, theirs = (f"/api/v1/vouchers/programmes/{p}" for p in (world.programme_id, elsewhere.id))
    admin, stranger, company = bearer(world.admin), bearer(other), bearer(world.company)
    record = {"org_id": world.company.org_id, "source": "信用中国", "reason": "列入严重失信主体名单"}
    assert client.post(f"{ours}/broken-trust", json=record, headers=admin).status_code == 201
    assert client.post(f"{ours}/related-parties", json={"org_a_id": world.company.org_id,
                                                         "org_b_id": world.provider.org_id}, headers=admin
                       ).status_code == 201
    for lang, word in (("zh", "失信"), ("en", "broken-trust")):
        refused = client.post(f"{theirs}/applications", json=APPLICATION, headers={**company, "Accept-Language": lang})
        assert refused.status_code == 409
        assert refused.json()["code"] == "broken_trust"
        assert word in refused.json()["detail"]
        assert "贵州省算力券服务中心" in refused.json()["detail"]
    # the other administrator sees it, with who made it, read-only; not the maker's related parties
    listed = client.get(f"{theirs}/trust-records", headers=stranger).json()
    assert [(t["org"]["id"], t["recorded_by"]["id"], t["own"]) for t in listed["broken_trust"]] == [
        (world.company.org_id, world.admin.org_id, False)]
    assert listed["related_parties"] == []
    _sign_in(client, db, other)
    maker_en = accounts.organisations_by_id(db, [world.admin.org_id])[world.admin.org_id].name_en
    for lang, words in (("zh", ("贵州省算力券服务中心", "其他管理机构的记录：只读")),
                        ("en", (maker_en, "Another administrator&#39;s record: read-only"))):
        client.cookies.set(LANG_COOKIE, lang)
        page = client.get(f"/vouchers/programmes/{elsewhere.id}/trust")
        table = page.text[page.text.index('id="broken-trust"'):page.text.index('id="trust-form"')]
        assert all(w in table for w in words), table
        assert "列入严重失信主体名单" in table
        assert f'id="lift-form-{world.company.org_id}"' not in table
    client.cookies.clear()  # the API in the language asked for
    for lang, word in (("zh", "只有它可以撤销"), ("en", "only it may lift it")):
        lift = client.post(f"{theirs}/broken-trust/lift", json={"org_id": world.company.org_id, "reason": "信用修复"},
                           headers={**stranger, "Accept-Language": lang})
        assert lift.status_code == 409
        assert lift.json()["code"] == "broken_trust_of_another"
        assert word in lift.json()["detail"]
    # its own record stands beside the first; when the first is lifted the company is still refused
    assert client.post(f"{theirs}/broken-trust", json={**record, "source": "法院失信被执行人名单"},
                       headers=stranger).status_code == 201
    assert client.post(f"{ours}/broken-trust/lift", json={"org_id": world.company.org_id, "reason": "信用修复完成"},
                       headers=admin).json()["lifted"] is True
    still = client.post(f"{ours}/applications", json=APPLICATION, headers={**company, "Accept-Language": "zh"})
    assert still.status_code == 409
    assert "遵义市大数据发展管理局" in still.json()["detail"]
    # the maker's lifted record is its own history: the other administrator no longer sees it
    mine = client.get(f"{ours}/trust-records", headers=admin).json()["broken_trust"]
    assert sorted((t["recorded_by"]["id"], t["lifted"], t["own"]) for t in mine) == sorted([
        (world.admin.org_id, True, True), (other.org_id, False, False)])
    assert [t["recorded_by"]["id"] for t in client.get(f"{theirs}/trust-records", headers=stranger)
            .json()["broken_trust"]] == [other.org_id]
    assert client.post(f"{theirs}/broken-trust/lift", json={"org_id": world.company.org_id, "reason": "已履行"},
                       headers=stranger).status_code == 200
    assert client.post(f"{ours}/applications", json=APPLICATION, headers=company).status_code == 201
    assert client.post(f"{theirs}/applications", json=APPLICATION, headers=company).status_code == 201


def test_a_related_mark_made_through_one_programme_stops_orders_in_another(client, db, world: World) -> None:
    from tests.vouchers.conftest import issue

    vouchers = issue(db, world, world.company)
    second = _second_programme(db, world)
    token = _sign_in(client, db, world.admin)
    marked = client.post(f"/vouchers/programmes/{second.id}/related", follow_redirects=False, data={
        "csrf_token": token, "org_a_id": _uscc(db, world.provider), "org_b_id": _uscc(db, world.company),
        "reason": "同一实际控制人"})
    assert marked.status_code == 303
    with pytest.raises(Conflict) as refused:
        redemption.place_order(db, world.actor(world.company), world.programme_id, _order(world, vouchers))
    assert refused.value.code == "related_parties"
    assert "同一实际控制人" in client.get(f"/vouchers/programmes/{world.programme_id}/trust").text
    a, b = sorted((world.provider.org_id, world.company.org_id))
    assert client.post(f"/vouchers/programmes/{world.programme_id}/related/{a}/{b}/unmark", follow_redirects=False,
                       data={"csrf_token": token, "reason": "股权已转让"}).status_code == 303
    assert redemption.place_order(db, world.actor(world.company), world.programme_id,
                                  _order(world, vouchers)).voucher_fen > 0


def test_migration_0037_keeps_every_programmes_rows(isolated_database: Database, tmp_path: Path) -> None:
    url = isolated_database.url
    with isolated_database.unit_of_work() as db:
        world = build_world(db, Factories(db))
        second = _second_programme(db, world).id
        ids = (world.programme_id, second, world.company.org_id, world.provider.org_id, world.admin.org_id)
    first, second, company, provider, admin = ids
    a, b = sorted((company, provider))
    isolated_database.dispose()
    command.downgrade(alembic_config(url), "0034_exchange_renewals")
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # the records as 0032 kept them: one row per programme
        for pid, reason, lifted in ((first, "法院名单", None), (second, "信用中国", None)):
            conn.execute(sa.text("INSERT INTO voucher_broken_trust (programme_id, org_id, source, reason, "
                                 "recorded_at, lifted_at, lift_reason) VALUES (:p, :o, :s, :r, :t, :l, '')"),
                         {"p": pid, "o": company, "s": reason, "r": reason, "t": "2026-11-01 00:00:00+00:00",
                          "l": lifted})
        conn.execute(sa.text("INSERT INTO voucher_related_parties (programme_id, org_a_id, org_b_id, created_at, "
                             "reason, unmarked_at, unmark_reason) VALUES (:p, :a, :b, :t, '关联', NULL, '')"),
                     {"p": second, "a": a, "b": b, "t": "2026-11-01 00:00:00+00:00"})
    engine.dispose()
    upgrade(url)
    with isolated_database.unit_of_work() as db:
        rows = db.scalars(select(BrokenTrust).order_by(BrokenTrust.id)).all()
        assert [(t.admin_org_id, t.programme_id, t.reason) for t in rows] == [
            (admin, first, "法院名单"), (admin, second, "信用中国")]
        assert db.scalar(select(RelatedParties.admin_org_id)) == admin
        assert service.are_related(db, admin, company, provider)
        assert service.broken_trust_in_force(db, company)
        # both rows hold; one lift, through either programme, lifts both
        trust.lift_broken_trust(db, world.actor(world.admin), first, schemas.LiftBrokenTrustIn(
            org_id=company, reason="信用修复完成"))
    with isolated_database.unit_of_work(write=False) as db:
        assert not service.broken_trust_in_force(db, company)
        assert db.scalar(select(func.count(BrokenTrust.id)).where(BrokenTrust.lift_reason == "信用修复完成")) == 2
