"""Demo of government data sharing: twelve Guizhou departments (the big-data bureau among them), each
publishing the resources the return-to-poverty monitoring feeds come from
(monitoring/population.py), with a feed file each, some requests approved or narrowed, one rejected,
one waiting, one past its 10-working-day deadline (flagged to both sides and the bureau), one
grant revoked by its owner with a reason, the narrowing appealed in part to the bureau (one of the
two fields left out, for the whole year; waiting for the bureau) and a longer use of the approved
grant asked of its owner; the sandbox grant's resource has its owner's sandbox policy (k = 5,
counts and averages). The departments' accounts are made as demo/seed.py makes the demo's (one
password hash) and approved through the accounts service; everything else goes through the
sharing services. About 2 s on a busy 2-core machine (load 17), 9.5 s when each department
hashed its own password."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.accounts.models import Organisation, User
from qianshu.accounts.passwords import hash_password
from qianshu.core import audit
from qianshu.core.actor import SYSTEM
from qianshu.core.blobs import open_blob_store
from qianshu.core.db import Database
from qianshu.core.identifiers import uscc_check_char
from qianshu.core.settings import Settings
from qianshu.core.timeutil import utcnow
from qianshu.demo.registrations import actor_of
from qianshu.demo.seed import DEMO_PASSWORD
from qianshu.sharing import appeals, grants, schemas, service, workdays
from qianshu.sharing.models import SharingRequest

BUREAU_USER = "government@qianshu.demo"  # 贵州省大数据发展管理局, the demo's data_bureau


@dataclass(frozen=True)
class Department:
    key: str  # the e-mail is <key>@qianshu.demo
    name: str
    name_en: str
    code: str  # the organisation code part of the USCC (8 characters, before its check)
    admin: str


DEPARTMENTS = (
    Department("publicsecurity", "贵州省公安厅", "Guizhou Public Security Department", "01520001", "杨帆"),
    Department("civilaffairs", "贵州省民政厅", "Guizhou Civil Affairs Department", "01520002", "黄丽"),
    Department("hrss", "贵州省人力资源和社会保障厅", "Guizhou Human Resources and Social Security Department",
               "01520003", "周强"),
    Department("education", "贵州省教育厅", "Guizhou Education Department", "01520004", "吴敏"),
    Department("medicalinsurance", "贵州省医疗保障局", "Guizhou Healthcare Security Administration", "01520005",
               "郑洁"),
    Department("health", "贵州省卫生健康委员会", "Guizhou Health Commission", "01520006", "冯涛"),
    Department("housing", "贵州省住房和城乡建设厅", "Guizhou Housing and Urban-Rural Development Department",
               "01520007", "何静"),
    Department("water", "贵州省水利厅", "Guizhou Water Resources Department", "01520008", "罗军"),
    Department("disabled", "贵州省残疾人联合会", "Guizhou Disabled Persons' Federation", "01520009", "梁红"),
    Department("agriculture", "贵州省农业农村厅", "Guizhou Agriculture and Rural Affairs Department", "01520010",
               "宋平"),
    Department("emergency", "贵州省应急管理厅", "Guizhou Emergency Management Department", "01520011", "唐勇"),
)

F = schemas.FieldIn
RID = F(name="resident_id", type="string", meaning_zh="公民身份号码", meaning_en="Resident ID")
HID = F(name="household_id", type="string", meaning_zh="户编号", meaning_en="Household number")


def _f(name: str, kind: str, zh: str, en: str) -> schemas.FieldIn:
    return F.model_validate({"name": name, "type": kind, "meaning_zh": zh, "meaning_en": en})


# A department's own words (stored data, not a message of Qianshu's to translate): Guizhou's departments
# write in Chinese, so purposes and reasons are Chinese only, as the resources' conditions are.
OUTSIDE_CONDITIONS = "目的超出共享条件（仅限防返贫监测）"
LAW = "《政务信息资源共享管理暂行办法》（国发〔2016〕51号）；《贵州省政务数据资源管理办法》"
# (department key, feed code, name zh, name en, fields, frequency, class, conditions)
RESOURCES = (
    ("publicsecurity", "household_registration", "户籍人口信息", "Household registration", [
        RID, _f("name", "string", "姓名", "Name"), _f("sex", "code", "性别（GB/T 2261.1）", "Sex (GB/T 2261.1)"),
        _f("birth_date", "date", "出生日期", "Date of birth"), HID,
        _f("relation", "code", "与户主关系", "Relation to the head"),
        _f("division_code", "code", "住址行政区划（村级）", "Village of residence"),
        _f("hukou_type", "code", "户口性质", "Rural or urban registration")],
     "daily", "conditional", "仅用于防返贫监测与社会救助对象核查；不得向第三方提供；期满删除。"),
    ("civilaffairs", "civil_affairs", "社会救助对象信息", "Social assistance recipients", [
        HID, _f("head_resident_id", "string", "户主身份号码", "Resident ID of the head"),
        _f("assistance", "code", "救助类别（低保、特困）", "Assistance kind (minimum living, extreme poverty)"),
        _f("monthly_amount_fen", "integer", "月救助金额（分）", "Monthly amount (fen)"),
        _f("start_date", "date", "救助起始日期", "Start date")],
     "monthly", "conditional", "用于防返贫监测与救助衔接。"),
    ("hrss", "human_resources", "就业与养老保险信息", "Employment and pensions", [
        RID, _f("status", "code", "就业状态", "Employment status"),
        _f("monthly_wage_fen", "integer", "月工资（分）", "Monthly wage (fen)"),
        _f("monthly_pension_fen", "integer", "月养老金（分）", "Monthly pension (fen)"),
        _f("as_of", "date", "统计日期", "As of")],
     "monthly", "conditional", "用于防返贫监测；工资字段仅限县级以上民政、乡村振兴部门。"),
    ("education", "education", "学生资助信息", "Student aid", [
        RID, _f("school_stage", "code", "学段", "School stage"), _f("status", "code", "在学状态", "Enrolment"),
        _f("aid_fen", "integer", "资助金额（分）", "Aid (fen)"), _f("term", "string", "学期", "Term")],
     "quarterly", "unconditional", ""),
    ("medicalinsurance", "medical_insurance", "医保结算信息", "Medical insurance claims", [
        RID, _f("claim_date", "date", "结算日期", "Claim date"),
        _f("total_cost_fen", "integer", "总费用（分）", "Total cost (fen)"),
        _f("reimbursed_fen", "integer", "报销金额（分）", "Reimbursed (fen)"),
        _f("out_of_pocket_fen", "integer", "自付金额（分）", "Out of pocket (fen)")],
     "monthly", "conditional", "仅用于因病返贫风险监测；不得用于其他目的。"),
    ("health", "health", "重大疾病患者信息", "Serious illness patients", [
        RID, _f("disease_category", "code", "疾病类别", "Disease category"),
        _f("diagnosed_on", "date", "确诊日期", "Diagnosed on")],
     "monthly", "conditional", "仅限防返贫监测，须经卫生健康委审批；病种信息不得外传。"),
    ("housing", "housing", "农村危房鉴定信息", "Rural housing safety assessments", [
        HID, _f("grade", "code", "危房等级（A–D）", "Safety grade (A–D)"),
        _f("assessed_on", "date", "鉴定日期", "Assessed on")],
     "quarterly", "unconditional", ""),
    ("water", "water", "农村饮水安全信息", "Rural drinking-water safety", [
        HID, _f("drinking_water_safe", "boolean", "饮水是否安全", "Drinking water safe"),
        _f("assessed_on", "date", "评估日期", "Assessed on")],
     "yearly", "unconditional", ""),
    ("disabled", "disabled_persons", "持证残疾人信息", "Certified disabled persons", [
        RID, _f("disability_kind", "code", "残疾类别", "Disability kind"),
        _f("grade", "integer", "残疾等级", "Grade"), _f("certified_on", "date", "发证日期", "Certified on")],
     "monthly", "conditional", "用于残疾人两项补贴和防返贫监测。"),
    ("agriculture", "agriculture_households", "脱贫户与监测户信息", "Households lifted out of poverty", [
        HID, _f("lifted_out_of_poverty", "boolean", "是否脱贫户", "Lifted out of poverty"),
        _f("lifted_year", "integer", "脱贫年度", "Year lifted"),
        _f("annual_income_per_capita_fen", "integer", "人均年纯收入（分）", "Annual income per head (fen)")],
     "yearly", "conditional", "用于防返贫监测和帮扶。"),
    ("agriculture", "agriculture_income", "农户月度收入监测", "Monthly household income", [
        HID, _f("month", "date", "月份", "Month"),
        _f("per_capita_income_fen", "integer", "人均月收入（分）", "Monthly income per head (fen)")],
     "monthly", "not_shared", ""),
    ("emergency", "emergency", "自然灾害受灾信息", "Natural disaster losses", [
        HID, _f("event_date", "date", "受灾日期", "Event date"), _f("disaster_kind", "code", "灾种", "Disaster"),
        _f("loss_fen", "integer", "损失金额（分）", "Loss (fen)")],
     "realtime", "unconditional", ""),
    ("bureau", "government_services", "政务服务事项办件信息", "Government service cases", [
        _f("case_id", "string", "办件编号", "Case number"), _f("item_code", "code", "事项编码", "Item code"),
        _f("division_code", "code", "办理地行政区划", "Division"),
        _f("finished_on", "date", "办结日期", "Finished on")],
     "daily", "conditional", "用于政务服务效能监督。"),
)


def _sample_csv(fields: list[schemas.FieldIn], rows: int = 30) -> bytes:
    """A few synthetic rows for the feed's first version (the real feeds: monitoring/population.py)."""
    def value(kind: str, i: int) -> str:
        return {"string": f"52{i:016d}", "integer": str(1000 * (i % 7 + 1)), "decimal": f"{i * 1.5:.2f}",
                "date": f"2026-{i % 12 + 1:02d}-15", "boolean": "true" if i % 3 else "false"}.get(kind, str(i % 4 + 1))

    out = io.StringIO()
    out.write(",".join(f.name for f in fields) + "\n")
    for i in range(rows):
        out.write(",".join(value(f.type, i) for f in fields) + "\n")
    return out.getvalue().encode()


def _departments(database: Database) -> None:
    """The departments, made as the demo's accounts are (demo/seed.py: one password hash for all,
    an argon2 hash per department would be most of the step's time), then approved through the
    accounts service."""
    password_hash = hash_password(DEMO_PASSWORD)
    with database.unit_of_work() as db:
        for d in DEPARTMENTS:
            body = ("11520000" + d.code + "X")[:17]
            org = Organisation(name=d.name, name_en=d.name_en, org_type="government",
                               uscc=body + uscc_check_char(body), division_code="520000", contact_name=d.admin,
                               contact_email=f"{d.key}@qianshu.demo", contact_phone="0851-86900000", status="pending")
            org.users.append(User(email=f"{d.key}@qianshu.demo", display_name=d.admin, password_hash=password_hash,
                                  org_role="admin"))
            db.add(org)
            db.flush()
            audit.record(db, SYSTEM, "organisation.applied", target_type="organisation", target_id=org.id,
                         target_org_id=org.id, name=org.name, seeded=True)
            accounts.review_organisation(db, SYSTEM, org.id, "approve")


def seed(database: Database, settings: Settings, org_ids: dict[str, int]) -> None:
    _departments(database)
    blobs = open_blob_store(settings)
    ids: dict[str, int] = {}
    with database.unit_of_work() as db:
        for key, code, zh, en, fields, frequency, cls, conditions in RESOURCES:
            email = BUREAU_USER if key == "bureau" else f"{key}@qianshu.demo"
            owner = actor_of(db, email)
            resource = service.publish_resource(db, owner, schemas.ResourceIn(
                code=code, name_zh=zh, name_en=en, description_zh=f"{zh}，供各部门按共享属性使用。",
                description_en=f"{en}, for other departments according to its sharing class.",
                fields=fields, update_frequency=frequency, legal_basis=LAW, sharing_class=cls,
                conditions=conditions))
            ids[code] = resource.id
            service.upload_file(db, owner, blobs, settings, resource.id, f"{code}.csv", [_sample_csv(fields)],
                                dt.date(2026, 6, 30))
    start, end = dt.date(2026, 1, 1), dt.date(2026, 12, 31)

    def ask(db: Session, email: str, code: str, fields: list[str], purpose: str, access: str = "feed") -> int:
        row = service.request_data(db, actor_of(db, email), settings, schemas.RequestIn.model_validate({
            "resource_id": ids[code], "purpose": purpose, "fields": fields, "period_start": start,
            "period_end": end, "access_type": access}))
        return row.id

    monitoring = "防返贫动态监测：比对监测对象家庭情况"
    with database.unit_of_work() as db:
        approved = ask(db, "agriculture@qianshu.demo", "civil_affairs",
                       ["household_id", "assistance", "monthly_amount_fen"], monitoring)
        service.decide_request(db, actor_of(db, "civilaffairs@qianshu.demo"), approved,
                               schemas.DecisionIn(decision="approve"))
        narrowed = ask(db, "agriculture@qianshu.demo", "medical_insurance",
                       ["resident_id", "claim_date", "total_cost_fen", "out_of_pocket_fen"], monitoring)
        service.decide_request(db, actor_of(db, "medicalinsurance@qianshu.demo"), narrowed, schemas.DecisionIn(
            decision="narrow", fields=["resident_id", "out_of_pocket_fen"], period_start=dt.date(2026, 4, 1)))
        # the narrowing appealed in part to the bureau (waiting for it): of the two fields left out, only
        # the claim dates, for the whole year; the approved grant's longer use asked
        agriculture = actor_of(db, "agriculture@qianshu.demo")
        appeals.file_appeal(db, agriculture, service.load_request(db, agriculture, narrowed), schemas.AppealIn(
            reason="监测需核对全年各次就医的结算日期；总费用不再申请", fields=["claim_date"],
            period_start=start, period_end=end))
        approved_row = service.load_request(db, agriculture, approved)
        if grants.in_force(approved_row) and approved_row.expires_on is not None:
            appeals.ask_extension(db, agriculture, approved_row, schemas.ExtensionIn(
                until=approved_row.expires_on + dt.timedelta(days=365),
                reason="下一年度继续监测"))
        sandbox = ask(db, "civilaffairs@qianshu.demo", "disabled_persons", ["disability_kind", "grade"],
                      "残疾人两项补贴核对", "sandbox")
        service.decide_request(db, actor_of(db, "disabled@qianshu.demo"), sandbox,
                               schemas.DecisionIn(decision="approve"))
        # the owner's sandbox policy for the resource: groups of 5 and more, counts and averages only
        disabled = actor_of(db, "disabled@qianshu.demo")
        grants.set_sandbox_policy(db, disabled, service.get_resource(db, disabled, ids["disabled_persons"]),
                                  schemas.SandboxPolicyIn(k=5, aggregates=["count", "avg"]))
        # a grant its owner revoked, with the reason the requester was told
        revoked = ask(db, "education@qianshu.demo", "civil_affairs", ["household_id", "assistance"],
                      "学生资助对象核对")
        civil = actor_of(db, "civilaffairs@qianshu.demo")
        service.decide_request(db, civil, revoked, schemas.DecisionIn(decision="approve"))
        grants.revoke(db, civil, service.load_request(db, civil, revoked, "sharing.grant.revoke"),
                      "核对工作已结束，停止共享")
        rejected = ask(db, "education@qianshu.demo", "health", ["resident_id", "disease_category"],
                       "学生健康档案")
        service.decide_request(db, actor_of(db, "health@qianshu.demo"), rejected, schemas.DecisionIn(
            decision="reject", reason=OUTSIDE_CONDITIONS))
        ask(db, "civilaffairs@qianshu.demo", "housing", ["household_id", "grade"], monitoring)  # unconditional
        ask(db, "agriculture@qianshu.demo", "household_registration",
            ["resident_id", "household_id", "division_code"], monitoring)  # waiting
        overdue = ask(db, "civilaffairs@qianshu.demo", "human_resources",
                      ["resident_id", "status", "monthly_pension_fen"], monitoring)
        # asked five weeks ago: its 10th working day has passed
        asked = utcnow() - dt.timedelta(days=35)
        db.execute(update(SharingRequest).where(SharingRequest.id == overdue).values(
            created_at=asked, due_on=workdays.add_working_days(asked.date(), 10)))
        service.flag_overdue(db)
        granted = actor_of(db, "agriculture@qianshu.demo")
        files = service.granted_files(db, granted, approved)[1]
        if files:
            service.download(db, granted, blobs, approved, files[0].id)
