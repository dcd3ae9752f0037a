"""Demo of return-to-poverty monitoring: Danzhai county (丹寨县, 522636) at 1 % of its synthetic
population, its feeds uploaded by the county's caseworker, a run of the rules started by the
province's monitoring administrator and done by the job worker, which opens a case for every
flagged household (the platform's one path from feeds to cases), and caseworkers of the county,
of one township and of one village of it, and of the province.

Some cases are taken through the mechanism by those caseworkers, through the services: visited,
cross-checked, on public notice, monitored with assistance measures, one rejected by the village,
one closed with its risk eliminated; one household applied by itself. Seconds, not minutes.
"""

from __future__ import annotations

import io
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.accounts.models import Organisation, User
from qianshu.accounts.passwords import hash_password
from qianshu.core.actor import ANONYMOUS, Actor
from qianshu.core.blobs import BlobStore
from qianshu.core.db import Database
from qianshu.core.identifiers import uscc_check_char
from qianshu.core.settings import Settings
from qianshu.core.timeutil import SHANGHAI, utcnow
from qianshu.demo.registrations import actor_of
from qianshu.demo.seed import DEMO_PASSWORD
from qianshu.monitoring import case_opening, cases, shared_feeds
from qianshu.monitoring.models import Case
from qianshu.sharing import schemas as sharing_schemas
from qianshu.sharing import service as sharing

COUNTY = "522636"  # 丹寨县, Qiandongnan
SCALE = 0.01
COUNTY_USER = "county.caseworker@qianshu.demo"
TOWNSHIP_USER = "township.caseworker@qianshu.demo"
VILLAGE_USER = "village.caseworker@qianshu.demo"
PROVINCE_USER = "province.monitoring@qianshu.demo"
CIVIL_AFFAIRS_USER = "civilaffairs@qianshu.demo"  # demo/sharing_seed.py
AUTHORISATION = b"%PDF-1.4\n% demo: the household's signed authorisation\n"
PHOTO = b"\x89PNG\r\n\x1a\n demo photo of the household visit"


def _users(db: object) -> None:
    """The caseworkers; the township's and village's get their jurisdiction once the run has
    flagged households (the village with the most cases), the county's until then."""
    from sqlalchemy.orm import Session

    assert isinstance(db, Session)
    body = "11522636MB1D00001"
    org = Organisation(name="丹寨县乡村振兴局", name_en="Danzhai County Rural Revitalisation Bureau",
                       org_type="government", uscc=body + uscc_check_char(body), division_code=COUNTY,
                       contact_name="杨帆", contact_email="contact@danzhai.demo", contact_phone="0855-3611000",
                       status="approved")
    body = "11520000MB1D00002"
    province = Organisation(name="贵州省乡村振兴局", name_en="Guizhou Rural Revitalisation Bureau",
                            org_type="government", uscc=body + uscc_check_char(body), division_code="520000",
                            contact_name="龙梅", contact_email="contact@guizhou-rr.demo",
                            contact_phone="0851-6800000", status="approved")
    password = hash_password(DEMO_PASSWORD)
    for email, name, code, owner, role in ((COUNTY_USER, "县级 杨帆", COUNTY, org, "member"),
                                           (TOWNSHIP_USER, "乡镇 潘红", COUNTY, org, "member"),
                                           (VILLAGE_USER, "村级 王勇", COUNTY, org, "member"),
                                           (PROVINCE_USER, "省级 龙梅", "520000", province, "monitoring_admin")):
        owner.users.append(User(email=email, display_name=name, password_hash=password, org_role=role,
                                jurisdiction=code))
    db.add_all([org, province])
    db.flush()


def _go(db: object, actor: Actor, case: Case, step: str, data: dict[str, object],
        files: list[dict[str, object]] | None = None) -> Case:
    from sqlalchemy.orm import Session

    assert isinstance(db, Session)
    return cases.advance(db, actor, case.id, step, case.version, data, files or [])


def _civil_affairs_through_sharing(db: Session, settings: Settings, store: BlobStore, source: Path,
                                   county: Actor) -> bool:
    """The county's civil-affairs feed through data sharing, as the departments would do it in the
    portal: the county's bureau requests the civil affairs department's resource (demo/sharing_seed.py)
    for the year, the department approves, the bureau receives the grant as its civil-affairs feed,
    and the department publishes the county's file, which arrives through the grant. False when the
    department is not seeded (the monitoring demo alone): the file is then uploaded."""
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    if accounts.active_user_by_email(db, CIVIL_AFFAIRS_USER) is None:
        return False
    owner = actor_of(db, CIVIL_AFFAIRS_USER)
    resource = next(r for r in sharing.list_resources(db, owner, org_id=owner.org_id) if r.code == "civil_affairs")
    year = utcnow().astimezone(SHANGHAI).year
    request = sharing.request_data(db, county, settings, sharing_schemas.RequestIn.model_validate({
        "resource_id": resource.id, "purpose": "防返贫动态监测：丹寨县社会救助对象比对",
        "fields": resource.field_names(), "period_start": date(year, 1, 1), "period_end": date(year, 12, 31),
        "access_type": "feed"}))
    sharing.decide_request(db, owner, request.id, sharing_schemas.DecisionIn(decision="approve"))
    body = io.BytesIO()
    pa_csv.write_csv(pq.read_table(source), body, pa_csv.WriteOptions(quoting_style="none"))
    sharing.upload_file(db, owner, store, settings, resource.id, f"civil_affairs-{COUNTY}.csv",
                        [body.getvalue()], utcnow().astimezone(SHANGHAI).date())
    shared_feeds.receive_grant(db, county, request.id, "civil_affairs", COUNTY)  # delivers the newest version
    return True


def seed(database: Database, settings: Settings, org_ids: dict[str, int]) -> None:
    from qianshu.core import jobs
    from qianshu.core.blobs import open_blob_store
    from qianshu.monitoring import feed_uploads, runs
    from qianshu.monitoring import feeds as feed_versions
    from qianshu.monitoring.models import MonitoringRun
    from qianshu.monitoring.population import FEEDS, generate

    today = utcnow().astimezone(SHANGHAI).date()
    folder = settings.data_dir / "monitoring" / "demo-feeds"
    generate(folder, scope=[COUNTY], scale=SCALE, seed=2020, year=today.year)
    store = open_blob_store(settings)
    with database.unit_of_work() as db:
        _users(db)
        uploader = actor_of(db, COUNTY_USER)
        shared = _civil_affairs_through_sharing(db, settings, store, folder / "civil_affairs.parquet", uploader)
        for feed in FEEDS:
            if feed == "civil_affairs" and shared:
                continue
            feed_versions.store_feed(db, uploader, store, folder / f"{feed}.parquet", feed_versions.Upload(
                feed=feed, year=today.year, division=COUNTY, name=f"{feed}.parquet"))
    # the job worker takes the civil affairs department's version through the grant and checks it
    jobs.run_pending(jobs.JobContext.build(database, settings), {
        shared_feeds.JOB_KIND: shared_feeds.deliver_job, feed_uploads.JOB_KIND: feed_uploads.validate_upload_job})
    with database.unit_of_work() as db:
        run_id = runs.start_run(db, actor_of(db, PROVINCE_USER), today.year, COUNTY).id
    # The job worker runs the rules; its success opens the cases (runs.py → case_opening.open_cases_from_flags).
    jobs.run_pending(jobs.JobContext.build(database, settings), {runs.JOB_KIND: runs.run_monitoring_job})
    with database.unit_of_work() as db:
        run = db.get_one(MonitoringRun, run_id)
        if run.status != "succeeded":
            raise RuntimeError(f"the demo's monitoring run failed: {run.error}")
        per_village = Counter(db.scalars(select(Case.division_code).where(Case.channel == "warning")))
        village = per_village.most_common(1)[0][0]
        for email, code in ((TOWNSHIP_USER, village[:9]), (VILLAGE_USER, village)):
            db.scalars(select(User).where(User.email == email)).one().jurisdiction = code
    authorisation = dict(zip(("digest", "size"), store.put_stream([AUTHORISATION]), strict=True))
    photo = dict(zip(("digest", "size"), store.put_stream([PHOTO]), strict=True))
    visit_files = [{**authorisation, "name": "授权书.pdf", "kind": "authorisation"},
                   {**photo, "name": "入户照片.png", "kind": "photo"}]
    with database.unit_of_work() as db:
        county, township, village_worker = (actor_of(db, e) for e in (COUNTY_USER, TOWNSHIP_USER, VILLAGE_USER))
        mine = list(db.scalars(select(Case).where(Case.division_code == village).order_by(Case.id)))
        others = list(db.scalars(select(Case).where(Case.division_code != village).order_by(Case.id).limit(6)))
        notice = (today - timedelta(days=cases.NOTICE_DAYS + 1)).isoformat()

        def to_monitored(case: Case, worker: Actor) -> Case:
            """Visited, cross-checked and on public notice since six days ago (the village)."""
            case = _go(db, worker, case, "visit", {"findings": "入户核实：家庭收入下降，情况属实。", "able_to_work": 1},
                       visit_files)
            case = _go(db, worker, case, "cross_check", {"departments": "民政、人社、医保、教育、住建",
                                                         "findings": "比对一致"})
            return _go(db, worker, case, "village_review", {"decision": "approve", "notice_starts_on": notice})

        months = []
        month = today.replace(day=1)
        for _ in range(cases.INCOME_MONTHS):
            month = (month - timedelta(days=1)).replace(day=1)
            months.append({"month": month.strftime("%Y-%m"), "per_capita_fen": 90_000})
        # The village's own cases: one visited, one on notice, one monitored with measures, one closed.
        stages = iter(mine)
        if (case := next(stages, None)) is not None:
            _go(db, village_worker, case, "visit", {"findings": "入户核实中", "able_to_work": 2}, visit_files)
        if (case := next(stages, None)) is not None:
            to_monitored(case, village_worker)
        if (case := next(stages, None)) is not None:
            case = to_monitored(case, village_worker)
            case = _go(db, township, case, "township_review", {"decision": "approve"})
            case = _go(db, county, case, "county_approve", {"decision": "approve",
                                                           "household_type": case.proposed_type or "marginal",
                                                           "risk_types": case.reasons or ["other"]})
            case = _go(db, county, case, "measure", {"kind": "public_welfare_post", "department": "县人社局",
                                                     "amount_fen": 60_000, "starts_on": today.isoformat()})
            _go(db, county, case, "measure", {"kind": "medical_insurance_aid", "department": "县医保局",
                                              "amount_fen": 350_000, "starts_on": today.isoformat()})
        if (case := next(stages, None)) is not None:
            case = to_monitored(case, village_worker)
            case = _go(db, township, case, "township_review", {"decision": "approve"})
            case = _go(db, county, case, "county_approve", {
                "decision": "approve", "household_type": "sudden_difficulty", "risk_types": case.reasons or ["other"]})
            case = _go(db, county, case, "measure", {"kind": "employment", "department": "县人社局",
                                                     "amount_fen": 0, "starts_on": today.isoformat()})
            case = _go(db, village_worker, case, "revisit", {"findings": "务工收入稳定", "income_months": months,
                                                             "guarantees_secured": "1", "able_to_work": 2})
            case = _go(db, village_worker, case, "propose_elimination", {"note": "收入连续六个月高于监测标准"})
            case = _go(db, village_worker, case, "elimination_visit", {"findings": "核实属实"})
            case = _go(db, village_worker, case, "elimination_notice", {"notice_starts_on": notice})
            case = _go(db, township, case, "elimination_review", {"decision": "approve"})
            _go(db, county, case, "elimination_approve", {"decision": "approve"})
        if (case := next(stages, None)) is not None:
            case = _go(db, village_worker, case, "visit", {"findings": "家庭有稳定收入", "able_to_work": 2},
                       visit_files)
            case = _go(db, village_worker, case, "cross_check", {"departments": "人社、农业农村",
                                                                 "findings": "收入高于标准"})
            _go(db, village_worker, case, "village_review", {"decision": "reject",
                                                             "reason": "经评议，家庭收入高于监测范围，不纳入。"})
        # Two waiting for the county's caseworker: one to approve, one whose risk to eliminate (close).
        if (case := next(stages, None)) is not None:
            case = to_monitored(case, village_worker)
            _go(db, township, case, "township_review", {"decision": "approve"})
        if (case := next(stages, None)) is not None:
            case = to_monitored(case, village_worker)
            case = _go(db, township, case, "township_review", {"decision": "approve"})
            case = _go(db, county, case, "county_approve", {
                "decision": "approve", "household_type": case.proposed_type or "marginal",
                "risk_types": case.reasons or ["other"]})
            case = _go(db, county, case, "measure", {"kind": "industry_support", "department": "县农业农村局",
                                                     "amount_fen": 200_000, "starts_on": today.isoformat()})
            case = _go(db, village_worker, case, "revisit", {"findings": "产业收入稳定", "income_months": months,
                                                             "guarantees_secured": "1", "able_to_work": 1})
            case = _go(db, village_worker, case, "propose_elimination", {"note": "收入连续六个月高于监测标准"})
            case = _go(db, village_worker, case, "elimination_visit", {"findings": "核实属实"})
            case = _go(db, village_worker, case, "elimination_notice", {"notice_starts_on": notice})
            _go(db, township, case, "elimination_review", {"decision": "approve"})
        # Elsewhere in the county: two visited by the county's own caseworker.
        for case in others[:2]:
            _go(db, county, case, "visit", {"findings": "县级干部入户核实", "able_to_work": 1}, visit_files)
        # A household applies by itself, in the village.
        case_opening.open_case(db, ANONYMOUS, channel="self_report", household_id="",
                        division_code=village, head_name="潘秀英", head_resident_id=_resident_id(village),
                        members=3, note="丈夫重病住院，医疗费用高。", risk_types=["serious_illness", "medical_burden"])


def _resident_id(village: str) -> str:
    from qianshu.core.identifiers import resident_id_check_char

    first17 = village[:6] + "19780312" + "042"
    return first17 + resident_id_check_char(first17)
