"""Catalogue, requests, decisions, grants, feeds, the access log and the overdue flag."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from qianshu.core.audit import AuditEvent
from qianshu.core.blobs import open_blob_store
from qianshu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from qianshu.core.inbox import Notification
from qianshu.sharing import schemas, service
from qianshu.sharing.models import SharingRequest
from tests.sharing.conftest import END, START, ask


def test_a_department_publishes_and_others_see_the_metadata(db, make, world) -> None:  # type: ignore[no-untyped-def]
    seen = service.list_resources(db, make.actor(world.other))
    assert {r.code for r in seen} == {"civil_affairs", "open_list", "secret_list"}
    with pytest.raises(PermissionDenied):
        service.list_resources(db, make.actor(world.merchant))


def test_conditional_needs_conditions_and_fields_are_unique(db, make, world) -> None:  # type: ignore[no-untyped-def]
    from tests.sharing.conftest import resource_in

    with pytest.raises(InvalidInput) as err:
        service.publish_resource(db, make.actor(world.owner), resource_in("x", "conditional"))
    assert err.value.field == "conditions"
    with pytest.raises(PermissionDenied):
        service.publish_resource(db, make.actor(world.merchant), resource_in("x", "unconditional"))


def test_unconditional_is_granted_at_once_and_not_shared_cannot_be_requested(db, make, world, settings) -> None:  # type: ignore[no-untyped-def]
    row = ask(db, make, world.other, settings, world.unconditional)
    assert row.status == "granted"
    assert row.granted_fields == ["resident_id", "assistance"]
    assert row.due_on is None
    with pytest.raises(Conflict) as err:
        ask(db, make, world.other, settings, world.not_shared)
    assert err.value.code == "not_shared"
    assert "不予共享" in err.value.render("zh")


def test_bad_requests_name_the_field(db, make, world, settings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as err:
        ask(db, make, world.other, settings, world.conditional, ["resident_id", "salary"])
    assert err.value.field == "fields"
    assert "salary" in err.value.render("en")
    with pytest.raises(InvalidInput) as err:
        service.request_data(db, make.actor(world.other), settings, schemas.RequestIn(
            resource_id=world.conditional, purpose="p", fields=["resident_id"], period_start=END, period_end=START))
    assert err.value.field == "period_end"
    assert err.value.code == "period_reversed"
    assert "早于" in err.value.render("zh")
    with pytest.raises(Conflict):
        ask(db, make, world.owner, settings, world.conditional)  # one's own resource


def test_conditional_request_waits_ten_working_days_then_is_narrowed(db, make, world, settings) -> None:  # type: ignore[no-untyped-def]
    row = ask(db, make, world.other, settings, world.conditional)
    assert row.status == "pending"
    assert row.due_on is not None
    assert 14 <= (row.due_on - row.created_at.date()).days <= 30
    notes = db.scalars(select(Notification).where(Notification.org_id == world.owner.org_id)).all()
    assert any(n.subject_id == row.id for n in notes)
    decided = service.decide_request(db, make.actor(world.owner), row.id, schemas.DecisionIn(
        decision="narrow", fields=["resident_id"], period_start=dt.date(2026, 7, 1)))
    assert decided.status == "narrowed"
    assert decided.granted_fields == ["resident_id"]
    assert decided.granted_start == dt.date(2026, 7, 1)
    assert decided.granted_end == END


def test_narrowing_cannot_widen_and_rejecting_needs_a_reason(db, make, world, settings) -> None:  # type: ignore[no-untyped-def]
    row = ask(db, make, world.other, settings, world.conditional, ["resident_id"])
    owner = make.actor(world.owner)
    with pytest.raises(InvalidInput):
        service.decide_request(db, owner, row.id, schemas.DecisionIn(decision="narrow",
                                                                     fields=["resident_id", "assistance"]))
    with pytest.raises(InvalidInput):
        service.decide_request(db, owner, row.id, schemas.DecisionIn(decision="narrow", period_end=dt.date(2027, 6, 1)))
    with pytest.raises(InvalidInput) as err:
        service.decide_request(db, owner, row.id, schemas.DecisionIn(decision="reject"))
    assert err.value.field == "reason"
    service.decide_request(db, owner, row.id, schemas.DecisionIn(decision="reject", reason="超出共享条件"))
    with pytest.raises(Conflict) as conflict:
        service.decide_request(db, owner, row.id, schemas.DecisionIn(decision="approve"))
    assert conflict.value.status == 409
    assert "已拒绝" in conflict.value.render("zh")


def test_only_the_owner_decides_and_others_do_not_see_the_request(db, make, world, settings) -> None:  # type: ignore[no-untyped-def]
    row = ask(db, make, world.other, settings, world.conditional)
    with pytest.raises((PermissionDenied, NotFound)):
        service.decide_request(db, make.actor(world.other), row.id, schemas.DecisionIn(decision="approve"))
    stranger = make.user(organisation=make.org(org_type="government"))
    with pytest.raises(NotFound):
        service.load_request(db, make.actor(stranger), row.id)
    with pytest.raises(NotFound):
        service.decide_request(db, make.actor(stranger), row.id, schemas.DecisionIn(decision="approve"))
    assert service.load_request(db, make.actor(world.bureau), row.id).id == row.id
    assert [r.id for r in service.list_requests(db, make.actor(world.bureau), "all")] == [row.id]
    assert service.list_requests(db, make.actor(stranger), "mine") == []
    with pytest.raises(PermissionDenied):
        service.list_requests(db, make.actor(world.other), "all")


def test_overdue_requests_are_flagged_once_to_both_sides_and_the_bureau(db, make, world, settings) -> None:  # type: ignore[no-untyped-def]
    row = ask(db, make, world.other, settings, world.conditional)
    assert service.flag_overdue(db, on=row.due_on) == 0  # the deadline day itself is not late
    assert service.flag_overdue(db, on=row.due_on + dt.timedelta(days=1)) == 1
    assert service.flag_overdue(db, on=row.due_on + dt.timedelta(days=2)) == 0
    told = {n.org_id for n in db.scalars(select(Notification).where(
        Notification.subject_type == "sharing_request", Notification.subject_id == row.id,
        Notification.message == service.OVERDUE))}
    assert told == {world.owner.org_id, world.other.org_id, world.bureau.org_id}


def _csv() -> bytes:
    return (b"resident_id,assistance,monthly_amount_fen\n"
            b"520102199001011234,dibao,50000\n520102199202021235,tekun,70000\n")


def test_feed_download_has_only_the_granted_fields_and_is_logged(db, make, world, settings) -> None:  # type: ignore[no-untyped-def]
    blobs = open_blob_store(settings)
    owner = make.actor(world.owner)
    in_period = service.upload_file(db, owner, blobs, settings, world.conditional, "a.csv", [_csv()],
                                    dt.date(2026, 6, 30))
    service.upload_file(db, owner, blobs, settings, world.conditional, "b.csv", [_csv()], dt.date(2025, 6, 30))
    row = ask(db, make, world.other, settings, world.conditional)
    service.decide_request(db, owner, row.id, schemas.DecisionIn(decision="narrow", fields=["assistance"]))
    grantee = make.actor(world.other)
    _r, files = service.granted_files(db, grantee, row.id)
    assert [f.id for f in files] == [in_period.id]  # the 2025 version is outside the period
    got = service.download(db, grantee, blobs, row.id, in_period.id)
    assert got.body.decode().splitlines() == ["assistance", "dibao", "tekun"]
    with pytest.raises((PermissionDenied, NotFound)):
        service.download(db, owner, blobs, row.id, in_period.id)  # the owner is no grantee
    log = service.access_log(db, owner)
    assert [(a.kind, a.grantee_org_id) for a in log] == [("download", world.other.org_id)]
    assert len(service.access_log(db, make.actor(world.bureau))) == 1
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "sharing.access.download")) is not None


def test_upload_refuses_a_header_that_is_not_the_resources(db, make, world, settings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as err:
        service.upload_file(db, make.actor(world.owner), open_blob_store(settings), settings, world.conditional,
                            "x.csv", [b"salary\n1\n"], dt.date(2026, 1, 1))
    assert err.value.field == "file"
    with pytest.raises(PermissionDenied):
        service.upload_file(db, make.actor(world.other), open_blob_store(settings), settings, world.conditional,
                            "x.csv", [_csv()], dt.date(2026, 1, 1))


def test_sandbox_grant_answers_aggregates_through_the_delivery_sandbox(db, make, world, settings) -> None:  # type: ignore[no-untyped-def]
    blobs = open_blob_store(settings)
    owner = make.actor(world.owner)
    body = "resident_id,assistance\n" + "".join(f"5201021990{i:08d},{'dibao' if i % 2 else 'tekun'}\n"
                                                  for i in range(40))
    service.upload_file(db, owner, blobs, settings, world.conditional, "s.csv", [body.encode()], dt.date(2026, 3, 1))
    row = ask(db, make, world.other, settings, world.conditional, access="sandbox")
    service.decide_request(db, owner, row.id, schemas.DecisionIn(decision="approve"))
    answer = service.sandbox_query(db, make.actor(world.other), blobs, settings, row.id,
                                   "SELECT assistance, COUNT(*) AS n FROM data GROUP BY assistance ORDER BY assistance")
    assert [tuple(r) for r in answer.rows] == [("dibao", 20), ("tekun", 20)]
    assert service.access_log(db, owner)[0].kind == "query"


def test_the_catalogue_exports_as_dcat_ap_that_the_shapes_accept(db, make, world) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    from pyshacl import validate
    from rdflib import RDF, Graph, Namespace

    from qianshu.sharing import dcat

    doc = dcat.catalogue_jsonld(db, make.actor(world.other), "https://data.example.cn")
    assert len(doc["dcat:dataset"]) == 3
    shapes = Graph().parse(Path(__file__).parents[1] / "catalog" / "shapes" / "dcat-ap-3.0.1-subset.ttl",
                           format="turtle")
    data = Graph().parse(data=dcat.to_turtle(doc), format="turtle")
    conforms, report, text = validate(data, shacl_graph=shapes, advanced=False, inference="none",
                                      allow_warnings=True)
    sh = Namespace("http://www.w3.org/ns/shacl#")
    assert conforms, text
    # Only the recommendations docs/sharing.md explains are left: no licence (government data is
    # shared on its resource's conditions), no distribution for a resource that is not shared, no
    # period before a file is published.
    paths = {str(report.value(r, sh.resultPath)) for r in report.subjects(RDF.type, sh.ValidationResult)}
    assert paths <= {"http://purl.org/dc/terms/license", "http://www.w3.org/ns/dcat#distribution",
                     "http://purl.org/dc/terms/temporal"}, text
    assert all(report.value(r, sh.resultSeverity) == sh.Warning
               for r in report.subjects(RDF.type, sh.ValidationResult)), text


def _pending(db: Any) -> list[SharingRequest]:
    return list(db.scalars(select(SharingRequest).where(SharingRequest.status == "pending")))
