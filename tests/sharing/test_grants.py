"""A grant's end (expiry on its last day, revocation by its owner with a reason) and the owner's
per-resource sandbox policy."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from qianshu.core.audit import AuditEvent
from qianshu.core.blobs import open_blob_store
from qianshu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from qianshu.core.inbox import Notification
from qianshu.sharing import grants, schemas, service
from qianshu.sharing.models import SharingAccess, SharingRequest
from tests.sharing.conftest import ask

SANDBOX_CSV = ("resident_id,assistance,monthly_amount_fen\n" + "".join(
    f"5201021990{i:08d},{'dibao' if i % 2 else 'tekun'},{10000 + 100 * i}\n" for i in range(40))).encode()


def _granted(db: Any, make: Any, world: Any, settings: Any, access: str = "feed", **decision: Any) -> Any:
    blobs = open_blob_store(settings)
    owner = make.actor(world.owner)
    file = service.upload_file(db, owner, blobs, settings, world.conditional, "s.csv", [SANDBOX_CSV],
                               dt.date(2026, 3, 1))
    row = ask(db, make, world.other, settings, world.conditional,
              fields=["resident_id", "assistance", "monthly_amount_fen"], access=access)
    service.decide_request(db, owner, row.id, schemas.DecisionIn(decision="approve", **decision))
    return row, file


def _notices(db: Any, org_id: int, needle: str) -> list[Notification]:
    return [n for n in db.scalars(select(Notification).where(Notification.org_id == org_id))
            if needle in str(n.message) + str(n.params)]


def test_a_grant_ends_with_its_period_or_the_day_the_owner_gives(db, make, world, settings) -> None:  # type: ignore[no-untyped-def]
    row, _file = _granted(db, make, world, settings)
    assert row.expires_on == row.granted_end == dt.date(2026, 12, 31)
    other = ask(db, make, world.other, settings, world.conditional)
    with pytest.raises(InvalidInput) as err:
        service.decide_request(db, make.actor(world.owner), other.id,
                               schemas.DecisionIn(decision="approve", expires_on=dt.date(2020, 1, 1)))
    assert err.value.field == "expires_on"
    assert "today" in err.value.render("en")
    assert "今天" in err.value.render("zh")
    day = service.today() + dt.timedelta(days=3)
    service.decide_request(db, make.actor(world.owner), other.id,
                           schemas.DecisionIn(decision="approve", expires_on=day))
    assert db.get_one(SharingRequest, other.id).expires_on == day
    assert ask(db, make, world.other, settings, world.unconditional).expires_on == dt.date(2026, 12, 31)


def test_an_expired_grant_stops_at_once_and_the_task_closes_it_once(db, make, world, settings) -> None:  # type: ignore[no-untyped-def]
    blobs = open_blob_store(settings)
    row, file = _granted(db, make, world, settings)
    grantee = make.actor(world.other)
    service.download(db, grantee, blobs, row.id, file.id)
    # its last day passes (set back in time: the periodic task has not run yet)
    row.expires_on = service.today() - dt.timedelta(days=1)
    db.flush()
    with pytest.raises(Conflict) as err:
        service.download(db, grantee, blobs, row.id, file.id)
    assert err.value.code == "grant_expired"
    assert "ended" in err.value.render("en")
    assert "到期" in err.value.render("zh")
    assert service.granted_files(db, grantee, row.id)[1] == []  # the page lists nothing to download
    assert grants.expire_grants(db) == 1
    assert db.get_one(SharingRequest, row.id).status == "expired"
    assert grants.expire_grants(db) == 0  # once
    assert len(_notices(db, world.other.org_id, "ended on")) == 1
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "sharing.grant.expired")) is not None
    with pytest.raises(Conflict) as err:
        service.download(db, grantee, blobs, row.id, file.id)
    assert err.value.code == "not_granted"
    assert db.scalar(select(SharingAccess).where(SharingAccess.request_id == row.id).order_by(
        SharingAccess.id.desc())) is not None
    assert len(list(db.scalars(select(SharingAccess).where(SharingAccess.request_id == row.id)))) == 1


def test_the_owner_revokes_with_a_reason_and_the_requester_is_told(db, make, world, settings) -> None:  # type: ignore[no-untyped-def]
    blobs = open_blob_store(settings)
    row, file = _granted(db, make, world, settings, access="sandbox")
    owner, grantee = make.actor(world.owner), make.actor(world.other)
    with pytest.raises(InvalidInput) as err:
        grants.revoke(db, owner, row, "  ")
    assert err.value.field == "reason"
    with pytest.raises(PermissionDenied):
        grants.revoke(db, grantee, row, "no")  # the requester may not
    with pytest.raises((PermissionDenied, NotFound)):
        service.load_request(db, make.actor(world.merchant), row.id, "sharing.grant.revoke")
    grants.revoke(db, owner, row, "用途已超出申请范围")
    assert (row.status, row.end_reason, row.ended_by) == ("revoked", "用途已超出申请范围", world.owner.id)
    with pytest.raises(Conflict) as err:
        service.sandbox_query(db, grantee, blobs, settings, row.id, "SELECT COUNT(*) AS n FROM data")
    assert err.value.code == "not_granted"
    with pytest.raises(Conflict) as err:
        service.download(db, grantee, blobs, row.id, file.id)
    assert err.value.code == "not_granted"
    with pytest.raises(Conflict) as err:
        grants.revoke(db, owner, row, "again")
    assert err.value.code == "grant_not_active"
    assert "already" in err.value.render("en")
    assert "已" in err.value.render("zh")
    assert len(_notices(db, world.other.org_id, "用途已超出申请范围")) == 1
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "sharing.grant.revoked")) is not None
    assert service.request_json(row)["in_force"] is False


def test_the_sandbox_policy_of_the_resource_is_what_the_grant_gets(db, make, world, settings) -> None:  # type: ignore[no-untyped-def]
    blobs = open_blob_store(settings)
    row, _file = _granted(db, make, world, settings, access="sandbox")
    owner, grantee = make.actor(world.owner), make.actor(world.other)
    resource = service.get_resource(db, owner, world.conditional)
    group = "SELECT assistance, COUNT(*) AS n FROM data GROUP BY assistance ORDER BY assistance"
    assert [tuple(r) for r in service.sandbox_query(db, grantee, blobs, settings, row.id, group).rows] == [
        ("dibao", 20), ("tekun", 20)]
    with pytest.raises(PermissionDenied):
        grants.set_sandbox_policy(db, grantee, resource, schemas.SandboxPolicyIn(k=25))
    # k = 25: groups of 20 are suppressed; only counts allowed
    grants.set_sandbox_policy(db, owner, resource, schemas.SandboxPolicyIn(k=25, aggregates=["count"]))
    answer = service.sandbox_query(db, grantee, blobs, settings, row.id, group)
    assert answer.rows == []
    assert answer.suppressed_groups == 2
    with pytest.raises(InvalidInput) as err:
        service.sandbox_query(db, grantee, blobs, settings, row.id, "SELECT AVG(monthly_amount_fen) AS a FROM data")
    assert err.value.code == "aggregate_not_allowed"
    assert "avg" in err.value.render("en")
    assert "不允许" in err.value.render("zh")
    with pytest.raises(InvalidInput) as err:
        grants.set_sandbox_policy(db, owner, resource, schemas.SandboxPolicyIn(bounds={"assistance": (0, 1)}))
    assert err.value.field == "bounds"
    # differential privacy: the typed column is summed with noise; the grant's budget is charged
    grants.set_sandbox_policy(db, owner, resource, schemas.SandboxPolicyIn(
        k=5, epsilon=1.0, budget=2.0, bounds={"monthly_amount_fen": (0, 20000)}))
    total = sum(10000 + 100 * i for i in range(40))
    answer = service.sandbox_query(db, grantee, blobs, settings, row.id,
                                   "SELECT SUM(monthly_amount_fen) AS s FROM data")
    assert answer.epsilon == pytest.approx(1.0)
    assert abs(float(answer.rows[0][0]) - total) < 0.5 * total  # noised, not refused, numeric
    service.sandbox_query(db, grantee, blobs, settings, row.id, "SELECT COUNT(*) AS n FROM data")
    assert db.get_one(SharingRequest, row.id).epsilon_spent == pytest.approx(2.0)
    with pytest.raises(Conflict) as err:
        service.sandbox_query(db, grantee, blobs, settings, row.id, "SELECT COUNT(*) AS n FROM data")
    assert err.value.code == "privacy_budget_exhausted"
    assert service.resource_json(resource)["sandbox_policy"]["epsilon"] == 1.0


def test_feed_files_are_kept_from_the_orphan_sweep(db, make, world, settings) -> None:  # type: ignore[no-untyped-def]
    from qianshu.registry.service import blob_in_use

    _row, file = _granted(db, make, world, settings)
    assert blob_in_use(db, file.digest)
    assert not blob_in_use(db, "0" * 64)
