"""Operators see queued, running and failed jobs and retry a failed one; nobody else may."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core.audit import AuditEvent
from qianshu.core.jobs import Job
from tests.factories import Factories
from tests.registry.helpers import csrf_of, sign_in


def _job(db: Session, status: str, **values: object) -> int:
    job = Job(kind="test.report", payload={"n": 1}, status=status, **values)
    db.add(job)
    db.flush()
    return job.id


def _failed(db: Session) -> int:
    return _job(db, "failed", attempts=3, error_code="invalid_input",
                error_message="amount: is too large",
                error_detail={"message": "Upload at least one file.", "params": {}})


def test_the_api_lists_jobs_newest_first_with_the_error_in_the_clients_language(
        client, db: Session, make: Factories, bearer) -> None:  # type: ignore[no-untyped-def]
    queued, running = _job(db, "queued"), _job(db, "running", progress=0.4, stage="profiling", attempts=1)
    failed, done = _failed(db), _job(db, "succeeded")
    headers = bearer(make.operator())
    listed = client.get("/api/v1/jobs", headers={**headers, "Accept-Language": "zh"}).json()
    ids = [j["id"] for j in listed]
    assert ids[:3] == [failed, running, queued]  # newest first
    assert done not in ids  # finished work is not listed
    by_id = {j["id"]: j for j in listed}
    assert (by_id[running]["progress"], by_id[running]["stage"]) == (0.4, "profiling")
    assert by_id[failed]["error"] == "请至少上传一个文件。"
    english = client.get("/api/v1/jobs?status=failed", headers={**headers, "Accept-Language": "en"}).json()
    assert [j["id"] for j in english if j["id"] == failed] == [failed]
    assert {j["status"] for j in english} == {"failed"}
    assert next(j for j in english if j["id"] == failed)["error"] == "Upload at least one file."


def test_an_operator_retries_a_failed_job_and_it_is_audited(client, db: Session, make: Factories,
                                                           bearer) -> None:  # type: ignore[no-untyped-def]
    failed = _failed(db)
    operator = make.operator()
    r = client.post(f"/api/v1/jobs/{failed}/retry", json={}, headers=bearer(operator))
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["attempts"], r.json()["error"]) == ("queued", 0, "")
    db.expire_all()
    job = db.get_one(Job, failed)
    assert (job.status, job.attempts, job.error_code, job.error_detail) == ("queued", 0, "", None)
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "job.retried")).one()
    assert (event.actor_user_id, event.target_id, event.detail["error_code"]) == (operator.id, str(failed),
                                                                                 "invalid_input")
    again = client.post(f"/api/v1/jobs/{failed}/retry", json={}, headers=bearer(operator))
    assert again.status_code == 409  # only a failed job
    assert client.post("/api/v1/jobs/999999/retry", json={}, headers=bearer(operator)).status_code == 404


def test_others_may_neither_see_nor_retry_jobs(client, db: Session, make: Factories,
                                               bearer) -> None:  # type: ignore[no-untyped-def]
    failed = _failed(db)
    for user in (make.user(org_role="admin"), make.operator(staff_role="reviewer"),
                 make.operator(staff_role="auditor")):
        headers = bearer(user)
        assert client.get("/api/v1/jobs", headers=headers).status_code == 403
        assert client.post(f"/api/v1/jobs/{failed}/retry", json={}, headers=headers).status_code == 403
    assert client.get("/api/v1/jobs").status_code == 401
    db.expire_all()
    assert db.get_one(Job, failed).status == "failed"


def test_the_portal_page_lists_and_retries(client, db: Session, make: Factories) -> None:  # type: ignore[no-untyped-def]
    failed, running = _failed(db), _job(db, "running", stage="profiling", attempts=1)
    db.commit()
    sign_in(client, make.operator())
    client.cookies.set("qs_lang", "en")
    page = client.get("/operator/jobs")
    assert page.status_code == 200
    assert f'data-job="{failed}"' in page.text
    assert f'data-job="{running}"' in page.text
    assert page.text.index(f'data-job="{running}"') < page.text.index(f'data-job="{failed}"')  # newest first
    assert "Upload at least one file." in page.text
    assert f'action="/operator/jobs/{failed}/retry"' in page.text
    assert f'action="/operator/jobs/{running}/retry"' not in page.text  # only failed jobs have the button
    for word in ("Failed", "Running"):  # statuses in words, not raw keys
        assert f">{word}<" in page.text
        assert f">{word.lower()}<" not in page.text
    r = client.post(f"/operator/jobs/{failed}/retry", data={"csrf_token": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 303
    db.expire_all()
    assert db.get_one(Job, failed).status == "queued"
    twice = client.post(f"/operator/jobs/{failed}/retry", data={"csrf_token": csrf_of(page)})
    assert twice.status_code == 409
    assert "Only a failed job can be retried." in twice.text


def test_the_portal_page_is_refused_to_other_staff(client, db: Session, make: Factories) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, make.operator(staff_role="reviewer"))
    assert client.get("/operator/jobs").status_code == 403
    assert "/operator/jobs" not in client.get("/").text  # nor linked
