"""Review workflow, objections, reports, refusals, later registrations, crash safety."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import update

from qianshu.core import jobs
from qianshu.core.blobs import open_blob_store
from qianshu.core.errors import Conflict, NotFound, PermissionDenied
from qianshu.core.signing import load_signer
from qianshu.core.timeutil import utcnow
from qianshu.registry import review, schemas, service
from qianshu.registry.jobs import HANDLERS
from qianshu.registry.models import Registration
from tests.registry.helpers import DECLARATION, process, upload


def _submitted(database, db, settings, actor, paths):  # type: ignore[no-untyped-def]
    reg = process(database, db, settings, actor, paths)
    service.update_declaration(db, actor, reg.id, DECLARATION)
    review.submit(db, actor, reg.id)
    return reg


def _issue(db, settings, op, reg):  # type: ignore[no-untyped-def]
    return review.issue_certificate(db, op, settings, load_signer(settings.key_dir), reg.id,
                                    now=reg.notice_ends_at + dt.timedelta(seconds=1))


def test_return_resubmit_history(database, db, settings, make, merchant, reviewer, gb_csv) -> None:
    m, rv = make.actor(merchant), make.actor(reviewer)
    reg = _submitted(database, db, settings, m, [gb_csv])
    review.take(db, rv, reg.id)
    review.return_for_changes(db, rv, reg.id, "请补充英文描述")
    assert reg.status == "returned"
    service.update_declaration(db, m, reg.id, DECLARATION.model_copy(update={"description_en": "More."}))
    review.submit(db, m, reg.id)
    actions = [h.action for h in service.history(db, reg.id)]
    assert actions[-3:] == ["review_started", "returned", "resubmitted"]


def test_core_data_is_refused(database, db, settings, make, merchant, reviewer, gb_csv) -> None:
    reg = _submitted(database, db, settings, make.actor(merchant), [gb_csv])
    with pytest.raises(Conflict) as info:
        review.approve(db, make.actor(reviewer), settings, reg.id, schemas.Approval(classification="core"))
    assert info.value.code == "core_data"


def test_disputed_rights_are_refused(database, db, settings, make, merchant, reviewer, gb_csv) -> None:
    _submitted(database, db, settings, make.actor(merchant), [gb_csv])
    rival = make.actor(make.user(organisation=make.org(org_type="data_merchant")))
    reg = process(database, db, settings, rival, [gb_csv])
    service.update_declaration(db, rival, reg.id, DECLARATION)
    with pytest.raises(Conflict) as info:
        review.submit(db, rival, reg.id)
    assert info.value.code == "rights_disputed"


def test_objection_upheld_refuses(database, db, settings, make, merchant, reviewer, operator, gb_csv) -> None:
    reg = _submitted(database, db, settings, make.actor(merchant), [gb_csv])
    review.approve(db, make.actor(reviewer), settings, reg.id, schemas.Approval())
    someone = make.actor(make.user())
    objection = review.file_objection(db, someone, reg.id, "这些数据是我方采集的，附合同。")
    with pytest.raises(Conflict):
        _issue(db, settings, make.actor(operator), reg)
    review.decide_objection(db, make.actor(operator), objection.id, True, "权属争议成立")
    assert reg.status == "rejected"


def test_objection_upheld_after_notice_is_recorded_as_upheld(database, db, settings, make, merchant, reviewer,
                                                             operator, gb_csv) -> None:
    """An objection upheld once the registration has left its notice (here refused by the reviewer) is
    still recorded as upheld, in the history and the audit trail, never as dismissed."""
    from sqlalchemy import select

    from qianshu.core.audit import AuditEvent

    reg = _submitted(database, db, settings, make.actor(merchant), [gb_csv])
    review.approve(db, make.actor(reviewer), settings, reg.id, schemas.Approval())
    objection = review.file_objection(db, make.actor(make.user()), reg.id, "这些数据是我方采集的，附合同。")
    review.reject(db, make.actor(reviewer), reg.id, "描述与样本不符")
    review.decide_objection(db, make.actor(operator), objection.id, True, "权属争议成立")
    assert objection.status == "upheld"
    assert reg.status == "rejected"
    last = service.history(db, reg.id)[-1]
    assert (last.action, last.from_status, last.to_status, last.reason) == (
        "objection_upheld", "rejected", "rejected", "权属争议成立")
    actions = set(db.scalars(select(AuditEvent.action).where(AuditEvent.target_type == "registration",
                                                             AuditEvent.target_id == str(reg.id))))
    assert "registration.objection_upheld" in actions
    assert "registration.objection_dismissed" not in actions


def test_provider_report_is_signed(database, db, settings, make, merchant, gb_csv) -> None:
    reg = _submitted(database, db, settings, make.actor(merchant), [gb_csv])
    provider = make.actor(make.user(organisation=make.org(org_type="service_provider")))
    report = review.attach_report(db, provider, load_signer(settings.key_dir), reg.id,
                                  schemas.ReportIn(kind="compliance", title="合规评估", conclusion="合规"))
    from qianshu.core.signing import verify_document

    assert verify_document(load_signer(settings.key_dir).public_key(), report.statement, report.signature)
    with pytest.raises(PermissionDenied):
        review.attach_report(db, make.actor(merchant), load_signer(settings.key_dir), reg.id,
                             schemas.ReportIn(kind="quality", title="x", conclusion="y"))


def test_transfer_needs_both_sides(database, db, settings, make, merchant, reviewer, operator, gb_csv) -> None:
    m, rv, op = make.actor(merchant), make.actor(reviewer), make.actor(operator)
    reg = _submitted(database, db, settings, m, [gb_csv])
    review.approve(db, rv, settings, reg.id, schemas.Approval())
    first = _issue(db, settings, op, reg)
    buyer_user = make.user(organisation=make.org(org_type="data_merchant"))
    buyer = make.actor(buyer_user)
    transfer = review.start_follow_up(db, m, reg.id, schemas.FollowUpIn(
        reg_type="transfer", transferee_uscc=buyer_user.organisation.uscc))
    with pytest.raises(Conflict):
        review.submit(db, m, transfer.id)
    review.confirm_transfer(db, buyer, transfer.id)
    review.submit(db, m, transfer.id)
    review.approve(db, rv, settings, transfer.id, schemas.Approval())
    cert = _issue(db, settings, op, transfer)
    assert cert.document["holder"]["uscc"] == buyer_user.organisation.uscc
    assert cert.document["previous_number"] == first.number
    assert reg.status == "transferred"
    assert transfer.holder_org_id == buyer_user.organisation.id


def test_cancellation_and_revocation(database, db, settings, make, merchant, reviewer, operator, gb_csv,
                                     monkeypatch) -> None:
    m, rv, op = make.actor(merchant), make.actor(reviewer), make.actor(operator)
    published: list[tuple[str, dict]] = []
    monkeypatch.setattr("qianshu.registry.review.publish", lambda db, e: published.append((e.name, e.data())))
    reg = _submitted(database, db, settings, m, [gb_csv])
    review.approve(db, rv, settings, reg.id, schemas.Approval())
    _issue(db, settings, op, reg)
    cancel = review.start_follow_up(db, m, reg.id, schemas.FollowUpIn(reg_type="cancellation"))
    review.submit(db, m, cancel.id)
    review.approve(db, rv, settings, cancel.id, schemas.Approval(reason="停止经营"))
    assert reg.status == "cancelled"
    assert review.certificate_of(db, reg.id).revoked_at is not None
    assert published == [("registration.revoked", {"registration_id": reg.id, "reason": "停止经营"})]


def test_change_links_previous(database, db, settings, make, merchant, reviewer, operator, gb_csv, tmp_path) -> None:
    from tests.registry.conftest import people_rows, write_csv

    m, rv, op = make.actor(merchant), make.actor(reviewer), make.actor(operator)
    reg = _submitted(database, db, settings, m, [gb_csv])
    review.approve(db, rv, settings, reg.id, schemas.Approval())
    _issue(db, settings, op, reg)
    change = review.start_follow_up(db, m, reg.id, schemas.FollowUpIn(reg_type="change"))
    v2 = write_csv(tmp_path / "v2.csv", people_rows(400, seed=9))
    digest, size = service.store_upload(open_blob_store(settings), [v2.read_bytes()], 10**9)
    service.add_file(db, m, change.id, v2.name, digest, size)
    service.start_processing(db, m, settings, change.id)
    db.commit()
    jobs.run_pending(jobs.JobContext.build(database, settings), HANDLERS)
    db.expire_all()
    service.update_declaration(db, m, change.id, DECLARATION)
    review.submit(db, m, change.id)
    review.approve(db, rv, settings, change.id, schemas.Approval())
    cert = _issue(db, settings, op, db.get(Registration, change.id))
    assert cert.document["data"]["rows"] == 400
    assert db.get(Registration, reg.id).status == "superseded"


def test_killed_pipeline_is_requeued_and_completes(isolated_database, settings, gb_csv, tmp_path) -> None:
    from tests.factories import OrganisationFactory, UserFactory

    database = isolated_database
    with database.unit_of_work() as db:
        OrganisationFactory._meta.sqlalchemy_session = db
        UserFactory._meta.sqlalchemy_session = db
        actor_user = UserFactory(organisation=OrganisationFactory(org_type="data_merchant"))
        from qianshu.accounts.service import actor_for

        actor = actor_for(actor_user, via="api", ip=None)
    with database.unit_of_work() as db:
        reg = upload(db, settings, actor, [gb_csv])
        reg_id, job_id = reg.id, reg.job_id
    # a worker claimed the job and died: status running, heartbeat long ago
    with database.unit_of_work() as db:
        db.execute(update(jobs.Job).where(jobs.Job.id == job_id).values(
            status="running", attempts=1, heartbeat_at=utcnow() - dt.timedelta(minutes=10)))
    (settings.work_dir / "registry" / f"job-{job_id}").mkdir(parents=True)  # its half-written work
    assert jobs.requeue_stale(database) == 1
    assert jobs.run_pending(jobs.JobContext.build(database, settings), HANDLERS) == 1
    with database.unit_of_work(write=False) as db:
        assert db.get_one(Registration, reg_id).status == "ready"
    assert not (settings.work_dir / "registry" / f"job-{job_id}").exists()


def test_failed_pipeline_is_clean_and_bilingual(database, db, settings, make, merchant, tmp_path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\x00\x01" * 1000)
    reg = process(database, db, settings, make.actor(merchant), [bad])
    assert reg.status == "failed"
    assert reg.parquet_sha256 is None
    assert "二进制" in service.pipeline_error(reg, "zh")
    assert "binary" in service.pipeline_error(reg, "en")
    assert service.column_profiles(db, reg.id) == []


def test_orphan_blobs_are_removed(db, settings, make, merchant, tmp_path) -> None:
    store = open_blob_store(settings)
    digest, _size = service.store_upload(store, [b"orphan,data\n1,2\n"], 10**6)
    assert store.exists(digest)
    assert service.sweep_orphan_blobs(db, store, [digest], stored_before=time.time() - 3600) == 0  # too young
    assert service.sweep_orphan_blobs(db, store, [digest], stored_before=time.time() + 1) == 1
    assert not store.exists(digest)


def test_strangers_see_nothing_before_notice(database, db, settings, make, merchant, gb_csv) -> None:
    reg = process(database, db, settings, make.actor(merchant), [gb_csv])
    with pytest.raises(NotFound):
        service.get_registration(db, make.actor(make.user()), reg.id)
    with pytest.raises(NotFound):
        service.public_registration(db, reg.id)


def test_a_pipeline_that_keeps_crashing_fails_the_registration_cleanly(  # type: ignore[no-untyped-def]
        isolated_database, settings, gb_csv) -> None:
    from tests.factories import OrganisationFactory, UserFactory

    database = isolated_database
    with database.unit_of_work() as db:
        OrganisationFactory._meta.sqlalchemy_session = db
        UserFactory._meta.sqlalchemy_session = db
        from qianshu.accounts.service import actor_for

        actor = actor_for(UserFactory(organisation=OrganisationFactory(org_type="data_merchant")), via="api", ip=None)
    with database.unit_of_work() as db:
        reg = upload(db, settings, actor, [gb_csv])
        reg_id, job_id = reg.id, reg.job_id
    # the last allowed attempt died too
    with database.unit_of_work() as db:
        db.execute(update(jobs.Job).where(jobs.Job.id == job_id).values(
            status="running", attempts=jobs.MAX_ATTEMPTS, heartbeat_at=utcnow() - dt.timedelta(minutes=10)))
    assert jobs.requeue_stale(database) == 1
    with database.unit_of_work(write=False) as db:
        failed = db.get_one(Registration, reg_id)
        assert failed.status == "failed"  # at once, not when its holder next opens it
        assert failed.pipeline_error_code == "job_crashed"
        assert "内存不足" in service.pipeline_error(failed, "zh")
        assert "out of memory" in service.pipeline_error(failed, "en")
        assert [h.action for h in service.history(db, reg_id)][-1] == "processing_failed"
        assert len(failed.files) == 1  # the uploaded data is kept for a re-run


def test_certificates_are_issued_when_the_notice_ends(  # type: ignore[no-untyped-def]
        database, db, settings, make, merchant, reviewer, gb_csv) -> None:
    from qianshu.capabilities import periodic_tasks
    from qianshu.registry.jobs import issue_due_certificates

    assert "registry.issue_due" in periodic_tasks()  # the serving process runs it every few minutes
    m, rv = make.actor(merchant), make.actor(reviewer)
    quiet = _submitted(database, db, settings, m, [gb_csv])
    review.take(db, rv, quiet.id)
    review.approve(db, rv, settings, quiet.id, schemas.Approval(reason="ok"))
    assert issue_due_certificates(database, settings) == 0  # the notice is still running
    quiet.notice_ends_at = utcnow() - dt.timedelta(minutes=1)
    db.flush()
    assert issue_due_certificates(database, settings) == 1
    db.expire_all()
    assert db.get_one(Registration, quiet.id).status == "issued"
    assert issue_due_certificates(database, settings) == 0  # nothing twice


def test_the_pipeline_job_carries_ids_and_a_job_queued_with_a_data_dir_still_runs(  # type: ignore[no-untyped-def]
        database, db, settings, make, merchant, gb_csv) -> None:
    reg = upload(db, settings, make.actor(merchant), [gb_csv])
    job = db.get_one(jobs.Job, reg.job_id)
    assert job.payload == {"registration_id": reg.id}  # no path: the handler's context has the store
    # A job queued by an earlier version named the data folder; it runs against the configured store.
    db.execute(update(jobs.Job).where(jobs.Job.id == job.id).values(
        payload={"registration_id": reg.id, "data_dir": str(settings.data_dir)}))
    db.commit()
    assert jobs.run_pending(jobs.JobContext.build(database, settings), HANDLERS) == 1
    db.expire_all()
    assert db.get_one(Registration, reg.id).status == "ready"
    assert db.get_one(jobs.Job, job.id).status == "succeeded"


def test_an_operator_retrying_a_crashed_pipeline_processes_the_registration_again(  # type: ignore[no-untyped-def]
        database, db, settings, make, merchant, operator, gb_csv) -> None:
    from qianshu.accounts.job_views import retry_job

    reg = upload(db, settings, make.actor(merchant), [gb_csv])
    db.execute(update(jobs.Job).where(jobs.Job.id == reg.job_id).values(
        status="running", attempts=jobs.MAX_ATTEMPTS, heartbeat_at=utcnow() - dt.timedelta(minutes=10)))
    db.commit()
    assert jobs.requeue_stale(database) == 1
    db.expire_all()
    assert db.get_one(Registration, reg.id).status == "failed"
    retried = retry_job(db, make.actor(operator), reg.job_id, "en")
    assert retried.status == "queued"
    db.commit()
    db.expire_all()
    again = db.get_one(Registration, reg.id)
    assert (again.status, again.pipeline_error_code) == ("processing", "")
    assert jobs.run_pending(jobs.JobContext.build(database, settings), HANDLERS) == 1
    db.expire_all()
    assert db.get_one(Registration, reg.id).status == "ready"
