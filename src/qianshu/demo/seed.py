"""``qianshu demo``: a data folder seeded with a realistic Guizhou exchange.

Seeding is idempotent (a second run finds the marker and only starts the portal). Each
capability's step is a ``seed(database, settings, org_ids)`` function named by its manifest
(``demo=``), run in the manifests' order after the accounts.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.accounts import passwords
from qianshu.accounts.models import Organisation, User
from qianshu.accounts.passwords import hash_password
from qianshu.accounts.service import create_staff_user, ensure_exchange_operator
from qianshu.bootstrap import initialise
from qianshu.capabilities import demo_steps
from qianshu.core import audit
from qianshu.core.actor import SYSTEM
from qianshu.core.db import Database
from qianshu.core.identifiers import uscc_check_char
from qianshu.core.settings import SETTINGS_FILE, Settings, get_settings
from qianshu.registry.settings import RegistrySettings

DEMO_PASSWORD = "qianshu-demo-2026"  # noqa: S105 - printed to the demo user on purpose
# The demo's public notice lasts minutes, not days, so that a newcomer can follow a registration
# from upload to certificate in one sitting. Written to the demo folder's settings file.
DEMO_NOTICE_MINUTES = 2
DEMO_NOTICE = f"""# qianshu demo: a public notice of {DEMO_NOTICE_MINUTES} minutes instead of public_notice_days,
# so that a registration can go from upload to certificate in one sitting. Not for real use.
public_notice_minutes = {DEMO_NOTICE_MINUTES}
"""


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str = DEMO_PASSWORD


@dataclass(frozen=True)
class DemoOrg:
    key: str
    name: str
    name_en: str
    org_type: str
    division_code: str
    status: str
    admin_name: str
    body: str  # registration authority + division + organisation code (17 chars before check)


DEMO_ORGS = (
    DemoOrg("merchant_traffic", "贵阳智慧交通数据有限公司", "Guiyang Smart Traffic Data Co., Ltd.", "data_merchant",
            "520115", "approved", "王磊", "91520115MA6H2K1X3"),
    DemoOrg("merchant_weather", "贵州气象数据服务有限公司", "Guizhou Meteorological Data Services Co., Ltd.",
            "data_merchant", "520102", "approved", "李娜", "91520102MA6DY3LQ8"),
    DemoOrg("merchant_health", "遵义医保数据科技有限公司", "Zunyi Health Insurance Data Technology Co., Ltd.",
            "data_merchant", "520302", "approved", "张伟", "91520302MA6J4N2P1"),
    DemoOrg("buyer_logistics", "贵州黔运物流股份有限公司", "Guizhou Qianyun Logistics Co., Ltd.", "buyer",
            "520111", "approved", "刘洋", "91520111MA6F8G5R2"),
    DemoOrg("bank", "贵阳农商银行", "Guiyang Rural Commercial Bank", "bank", "520103", "approved", "陈静",
            "91520100MA6DC7T45"),
    DemoOrg("service_provider", "黔数合规评估事务所", "Qianshu Compliance Assessment Firm", "service_provider",
            "520115", "approved", "赵敏", "91520115MA6HB9W07"),
    DemoOrg("government", "贵州省大数据发展管理局", "Guizhou Big Data Development Administration", "data_bureau",
            "520100", "approved", "孙涛", "11520000MB1L23456"),
    DemoOrg("vouchers", "贵州省算力券服务中心", "Guizhou Compute Voucher Service Centre", "voucher_administrator",
            "520100", "approved", "郑慧", "12520000MB1N45678"),
    DemoOrg("compute_mobile", "中国移动通信集团贵州有限公司", "China Mobile Guizhou", "compute_provider", "520111",
            "approved", "钱峰", "91520000MA6Q1M2B3"),
    DemoOrg("compute_unicom", "中国联合网络通信有限公司贵州省分公司", "China Unicom Guizhou", "compute_provider",
            "520111", "approved", "冯雪", "91520000MA6Q2U3C4"),
    DemoOrg("compute_telecom", "中国电信股份有限公司贵州分公司", "China Telecom Guizhou", "compute_provider", "520403",
            "approved", "褚亮", "91520000MA6Q3T4D5"),
    DemoOrg("compute_huawei", "华为云计算技术有限公司贵安分公司", "Huawei Cloud Gui'an", "compute_provider", "520403",
            "approved", "卫东", "91520400MA6Q4H5E6"),
    DemoOrg("compute_tencent", "腾讯云计算（贵安）有限公司", "Tencent Cloud (Gui'an)", "compute_provider", "520403",
            "approved", "蒋琳", "91520400MA6Q5X6F7"),
    DemoOrg("pending_merchant", "安顺文旅数据有限公司", "Anshun Culture and Tourism Data Co., Ltd.", "data_merchant",
            "520402", "pending", "周杰", "91520402MA6K7P3Q5"),
    DemoOrg("pending_buyer", "毕节农业科技有限公司", "Bijie Agricultural Technology Co., Ltd.", "buyer",
            "520502", "pending", "吴芳", "91520502MA6L8R4T6"),
)

DEMO_LOGINS = (
    DemoLogin("exchange operator / 交易所运营", "operator@qianshu.demo"),
    DemoLogin("reviewer / 登记审核员", "reviewer@qianshu.demo"),
    DemoLogin("auditor / 审计员", "auditor@qianshu.demo"),
    *(DemoLogin(f"{o.org_type} / {o.name}", f"{o.key.replace('_', '.')}@qianshu.demo") for o in DEMO_ORGS),
    # return-to-poverty monitoring (demo/monitoring_seed.py): caseworkers of Danzhai county and the province
    DemoLogin("county caseworker / 县级监测帮扶", "county.caseworker@qianshu.demo"),
    DemoLogin("township caseworker / 乡镇监测帮扶", "township.caseworker@qianshu.demo"),
    DemoLogin("village caseworker / 村级监测帮扶", "village.caseworker@qianshu.demo"),
    DemoLogin("province monitoring / 省级监测", "province.monitoring@qianshu.demo"),
)


def _seeded(db: Session) -> bool:
    return db.scalar(select(User.id).where(User.email == "operator@qianshu.demo")) is not None


def seed_accounts(db: Session, settings: Settings) -> dict[str, Organisation]:
    operator_org = ensure_exchange_operator(db, settings, settings.exchange_uscc)
    create_staff_user(db, SYSTEM, operator_org, "operator@qianshu.demo", "运营员 林", DEMO_PASSWORD, "operator")
    create_staff_user(db, SYSTEM, operator_org, "reviewer@qianshu.demo", "审核员 何", DEMO_PASSWORD, "reviewer")
    create_staff_user(db, SYSTEM, operator_org, "auditor@qianshu.demo", "审计员 郭", DEMO_PASSWORD, "auditor")
    password_hash = hash_password(DEMO_PASSWORD)
    orgs: dict[str, Organisation] = {"operator": operator_org}
    for spec in DEMO_ORGS:
        org = Organisation(name=spec.name, name_en=spec.name_en, org_type=spec.org_type,
                           uscc=spec.body + uscc_check_char(spec.body), division_code=spec.division_code,
                           contact_name=spec.admin_name, contact_email=f"contact@{spec.key}.demo",
                           contact_phone="0851-8888" + str(len(orgs)).zfill(4), status=spec.status)
        org.users.append(User(email=f"{spec.key.replace('_', '.')}@qianshu.demo", display_name=spec.admin_name,
                              password_hash=password_hash, org_role="admin"))
        db.add(org)
        db.flush()
        audit.record(db, SYSTEM, "organisation.applied", target_type="organisation", target_id=org.id,
                     target_org_id=org.id, name=org.name, seeded=True)
        orgs[spec.key] = org
    return orgs


def demo_settings(settings: Settings) -> Settings:
    """The demo's own settings (a short public notice), written to the folder's settings file so
    that the portal started on it uses them too."""
    if settings.section(RegistrySettings).public_notice_minutes is not None:
        return settings  # chosen already (settings file or environment)
    path = settings.data_dir / SETTINGS_FILE
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    # Into the file's [registry] table when it has one (TOML refuses a table twice), else a new one.
    header = next((i for i, line in enumerate(lines) if line.strip() == "[registry]"), None)
    if header is None:
        lines += ["\n[registry]\n", DEMO_NOTICE]
    else:
        lines.insert(header + 1, DEMO_NOTICE)
    path.write_text("".join(lines), encoding="utf-8")
    get_settings.cache_clear()
    copy = settings.model_copy(deep=True)
    copy.override(RegistrySettings, public_notice_minutes=DEMO_NOTICE_MINUTES)
    return copy


def seed_demo(settings: Settings) -> bool:
    """Seed once; returns False when the folder was already seeded."""
    settings = initialise(settings)
    passwords.configure(settings)
    database = Database(settings.effective_database_url)
    try:
        with database.unit_of_work() as db:
            if _seeded(db):
                return False
        settings = demo_settings(settings)
        with database.unit_of_work() as db:
            orgs = seed_accounts(db, settings)
            org_ids = {key: org.id for key, org in orgs.items()}
        for step in demo_steps():  # each capability's seeding step, as its manifest declares it
            step(database, settings, org_ids)
        return True
    finally:
        database.dispose()
