"""A feed upload answers at once and is checked by a job: the request stores the file and queues
it; the job records the version, or the whole-file refusal in both languages (nothing of the file
kept); a job run twice stores one version; the API shows the progress and the result."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.core import jobs
from qianshu.core.actor import Actor
from qianshu.core.blobs import open_blob_store
from qianshu.core.db import Database
from qianshu.core.errors import InvalidInput, PermissionDenied
from qianshu.core.settings import Settings
from qianshu.monitoring import feed_uploads, feeds
from qianshu.monitoring.feeds import Upload
from qianshu.monitoring.models import FeedVersion
from qianshu.monitoring.population import generate
from qianshu.registry.service import blob_in_use
from tests.accounts.test_portal import sign_in
from tests.factories import Factories

COUNTY = "520402"
YEAR = 2025
HANDLERS = {feed_uploads.JOB_KIND: feed_uploads.validate_upload_job}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("feeds")
    generate(out, scope=[COUNTY], scale=0.01, seed=5, year=YEAR)
    return out


@pytest.fixture
def department(make: Factories) -> Actor:
    org = make.org(org_type="government", name="安顺市西秀区医疗保障局")
    return make.actor(make.user(organisation=org, org_role="member", jurisdiction=COUNTY))


def _receive(db: Session, actor: Actor, settings: Settings, path: Path, feed: str, **kwargs: object) -> int:
    target = Upload(feed=feed, year=int(kwargs.pop("year", YEAR)), division=str(kwargs.pop("division", COUNTY)),  # type: ignore[call-overload]
                    name=path.name, **kwargs)  # type: ignore[arg-type]
    row = feed_uploads.receive(db, actor, settings, open_blob_store(settings), path, target)
    db.flush()
    return row.id


def test_a_good_file_waits_for_its_job_which_stores_one_version(db: Session, database: Database, settings: Settings,
                                                                department: Actor, generated: Path) -> None:
    upload_id = _receive(db, department, settings, generated / "medical_insurance.parquet", "medical_insurance")
    row = feed_uploads.get_upload(db, department, upload_id)
    assert row.status == "queued"
    assert feeds.current_versions(db, YEAR, COUNTY)["medical_insurance"] == []  # nothing checked in the request
    assert blob_in_use(db, row.source_digest)  # kept from the sweep while it waits
    context = jobs.JobContext.build(database, settings)
    assert jobs.run_pending(context, HANDLERS) == 1
    db.refresh(row)
    assert row.status == "stored"
    assert row.version_id is not None
    version = db.get_one(FeedVersion, row.version_id)
    assert version.rows_accepted == pq.read_metadata(generated / "medical_insurance.parquet").num_rows
    job = db.get_one(jobs.Job, row.job_id)
    assert (job.status, job.progress) == ("succeeded", 1.0)
    # the job again (a worker that crashed after committing): nothing more
    feed_uploads.validate_upload_job(context, job.id, lambda fraction, stage="": None)
    assert db.scalar(select(func.count()).select_from(FeedVersion).where(FeedVersion.feed == "medical_insurance")) == 1
    assert feed_uploads.upload_json(db, row, "en")["version"] == 1


def test_hostile_files_are_refused_whole_by_the_job_in_both_languages(
        db: Session, database: Database, settings: Settings, department: Actor, generated: Path,
        tmp_path: Path) -> None:
    source = (generated / "medical_insurance.parquet").read_bytes()
    truncated = tmp_path / "claims.parquet"
    truncated.write_bytes(source[: len(source) // 2])
    gbk = tmp_path / "claims.csv"
    gbk.write_bytes("resident_id,备注\n520402199001011234,张三\n".encode("gb18030"))
    wrong_year = tmp_path / "claims-2024.parquet"
    wrong_year.write_bytes(source)
    cases = [(truncated, {}, "file"), (gbk, {"encoding": "utf-8"}, "encoding"), (wrong_year, {"year": 2024}, "year")]
    ids = [_receive(db, department, settings, path, "medical_insurance", **kwargs) for path, kwargs, _f in cases]
    assert jobs.run_pending(jobs.JobContext.build(database, settings), HANDLERS) == len(cases)
    for upload_id, (path, _kwargs, field) in zip(ids, cases, strict=True):
        row = feed_uploads.get_upload(db, department, upload_id)
        db.refresh(row)
        assert row.status == "refused", path
        assert row.error is not None
        assert row.error["field"] == field, path
        zh, en = feed_uploads.error_text(row, "zh"), feed_uploads.error_text(row, "en")
        assert zh != en, en
        assert path.name in en
        assert not blob_in_use(db, row.source_digest)  # left to the orphan sweep
        assert db.get_one(jobs.Job, row.job_id).status == "succeeded"  # a refusal is an answer, not a crash
    assert feeds.current_versions(db, 2024, COUNTY)["medical_insurance"] == []
    assert feeds.current_versions(db, YEAR, COUNTY)["medical_insurance"] == []


def test_what_needs_no_reading_is_refused_at_once(db: Session, settings: Settings, department: Actor,
                                                  tmp_path: Path, make: Factories) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    some = tmp_path / "x.csv"
    some.write_text("household_id\n1\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as refused:
        _receive(db, department, settings, empty, "housing")
    assert refused.value.field == "file"
    with pytest.raises(InvalidInput) as refused:
        _receive(db, department, settings, some, "nonsense")
    assert refused.value.field == "feed"
    with pytest.raises(PermissionDenied):
        _receive(db, department, settings, some, "housing", division="520102")  # another county
    other = make.actor(make.user(organisation=make.org(org_type="government"), jurisdiction="520102"))
    upload_id = _receive(db, department, settings, some, "housing")
    with pytest.raises(PermissionDenied):
        feed_uploads.get_upload(db, other, upload_id)


def test_the_api_answers_202_then_shows_progress_and_the_result(client, db: Session, database: Database,  # type: ignore[no-untyped-def]
                                                                settings: Settings, make: Factories, bearer,
                                                                generated: Path) -> None:
    org = make.org(org_type="government", name="安顺市西秀区住房和城乡建设局")
    user = make.user(organisation=org, org_role="member", jurisdiction=COUNTY)
    db.flush()
    with (generated / "housing.parquet").open("rb") as fh:
        r = client.post(f"/api/v1/monitoring/feeds?feed=housing&year={YEAR}&division={COUNTY}",
                        headers=bearer(user), files={"file": ("housing.parquet", fh, "application/octet-stream")})
    assert r.status_code == 202, r.text
    queued = r.json()
    assert queued["status"] == "queued"
    assert queued["version_id"] is None
    bad = client.post(f"/api/v1/monitoring/feeds?feed=housing&year={YEAR}&division={COUNTY}",
                      headers=bearer(user), files={"file": ("housing.csv", b"household_id,grade\n", "text/csv")})
    assert bad.status_code == 202
    jobs.run_pending(jobs.JobContext.build(database, settings), HANDLERS)
    done = client.get(f"/api/v1/monitoring/feeds/uploads/{queued['id']}", headers=bearer(user)).json()
    assert done["status"] == "stored"
    assert done["progress"] == 1.0
    assert done["version"] == 1
    # the upload's page shows its status as a label in either language
    sign_in(client, user.email)
    for lang, status in (("zh", "已入库"), ("en", "Stored")):
        client.cookies.set("qs_lang", lang)
        assert f'<dd id="status">{status}</dd>' in client.get(f"/monitoring/feeds/uploads/{queued['id']}").text
    client.cookies.clear()  # the API below answers in its Accept-Language
    # the feed by its name in the reader's language, never its code
    for lang, words in (("zh", "数据项 住房安全（住建） 缺少列"),
                        ("en", "columns missing for the feed housing safety")):
        refused = client.get(f"/api/v1/monitoring/feeds/uploads/{bad.json()['id']}",
                             headers={**bearer(user), "Accept-Language": lang}).json()
        assert refused["status"] == "refused"
        assert words in refused["error"]["detail"], refused["error"]["detail"]
        assert refused["error"]["field"] == "file"


@pytest.mark.slow
def test_the_job_reports_its_progress_on_a_database_of_its_own_while_it_checks_against_the_registration(
        isolated_database: Database, settings: Settings, generated: Path) -> None:
    """The job's progress is written in transactions of its own while the check's transaction
    reads the registration: on SQLite the two must not wait for each other (they did: 'database is
    locked' after the busy timeout, and the upload was refused as an internal error)."""
    from qianshu.accounts.service import actor_for

    with isolated_database.unit_of_work() as db:
        make = Factories(db)
        user = make.user(organisation=make.org(org_type="government"), org_role="member", jurisdiction=COUNTY)
        actor = actor_for(user, via="api", ip=None)
        store = open_blob_store(settings)
        feeds.store_feed(db, actor, store, generated / "household_registration.parquet",
                         Upload(feed="household_registration", year=YEAR, division=COUNTY,
                                name="household_registration.parquet"))
        upload_id = _receive(db, actor, settings, generated / "health.parquet", "health")
    assert jobs.run_pending(jobs.JobContext.build(isolated_database, settings), HANDLERS) == 1
    with isolated_database.unit_of_work(write=False) as db:
        row = feed_uploads.get_upload(db, actor, upload_id)
        assert (row.status, row.error) == ("stored", None)
        job = db.get_one(jobs.Job, row.job_id)
        assert (job.status, job.progress) == ("succeeded", 1.0)
        assert db.get_one(FeedVersion, row.version_id).rows_accepted == pq.read_metadata(
            generated / "health.parquet").num_rows
