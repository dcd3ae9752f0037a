"""Demo catalogue: a few dozen realistic data products across Guizhou's industries and regions.

Products of the registrations issued by ``registry_seed`` are listed first; each of the rest
stands on a registration made here like any other: a data file generated for its prefecture
(demo/datasets.py), uploaded, run through the registration pipeline (profile, personal-data
scan, quality), declared, reviewed and issued with a signed certificate and a leaf of the
public log (demo/registrations.py). So every product has its sample, profile, quality report and
certificate. Most products are listed, a few wait for review; a buyer follows some and the
demand pool holds a few demands.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.accounts.models import Organisation, User
from qianshu.catalog import demand, follows, service
from qianshu.catalog.models import Listing
from qianshu.catalog.schemas import DemandIn, DemandResponseIn, ListingIn, PlanIn, PolicyIn
from qianshu.core.actor import Actor
from qianshu.core.db import Database
from qianshu.core.settings import Settings
from qianshu.core.signing import load_signer
from qianshu.demo import datasets, registrations
from qianshu.demo.registrations import actor_of
from qianshu.registry.models import Registration
from qianshu.registry.schemas import Approval, Declaration

Theme = tuple[str, str, str, str, str, str, str, str, list[str],
              Callable[[Path, datasets.Prefecture, random.Random], datasets.Generated]]

# (key of the holder, zh title, en title, zh description, en description, industry, frequency, data type, tags,
#  the generator of the data file registered for it)
THEMES: list[Theme] = [
    (
        "merchant_traffic",
        "{city}道路交通流量数据",
        "{city_en} road traffic flow",
        "{city}主要道路卡口每日车流量、平均车速与拥堵指数。",
        "Daily vehicle counts, average speed and congestion index at {city_en}'s main road checkpoints.",
        "G54",
        "realtime",
        "time_series",
        ["交通", "traffic", "拥堵"],
        datasets.road_traffic,
    ),
    (
        "merchant_traffic",
        "{city}公交到站与客流数据",
        "{city_en} bus arrivals and ridership",
        "公交线路每日到站班次与上下车人次，按线路和站点汇总。",
        "Daily bus arrivals, boardings and alightings by line and stop.",
        "G54",
        "daily",
        "table",
        ["公交", "bus", "客流"],
        datasets.bus_ridership,
    ),
    (
        "merchant_traffic",
        "{city}物流运单时效数据",
        "{city_en} logistics delivery times",
        "城际与同城物流运单的揽收、干线和派送时效（已脱敏）。",
        "Pick-up, line-haul and delivery times of parcels (de-identified).",
        "G58",
        "weekly",
        "table",
        ["物流", "logistics"],
        datasets.logistics_times,
    ),
    (
        "merchant_weather",
        "{city}气象观测数据",
        "{city_en} weather observations",
        "自动气象站逐日最高和最低气温、降水量、平均风速和相对湿度。",
        "Daily highest and lowest temperature, rainfall, mean wind speed and humidity from automatic weather stations.",
        "M74",
        "realtime",
        "time_series",
        ["气象", "weather", "降水"],
        datasets.weather,
    ),
    (
        "merchant_weather",
        "{city}农业气象灾害预警",
        "{city_en} agro-meteorological hazard warnings",
        "干旱、冰雹、凝冻等农业气象灾害预警，含影响面积与位置。",
        "Warnings of drought, hail, freezing rain and other hazards to farms, with the area affected and its location.",
        "A01",
        "daily",
        "geospatial",
        ["农业", "agriculture", "气象"],
        datasets.agro_hazards,
    ),
    (
        "merchant_weather",
        "{city}生态环境监测数据",
        "{city_en} ecological monitoring",
        "国控点逐日空气质量（AQI、PM2.5、PM10）与地表水水质类别。",
        "Daily air quality (AQI, PM2.5, PM10) and surface water class at national monitoring sites.",
        "N77",
        "daily",
        "time_series",
        ["生态", "ecology", "空气质量"],
        datasets.ecology,
    ),
    (
        "merchant_health",
        "{city}医保结算统计数据",
        "{city_en} medical insurance settlements",
        "按月、按险种和就医类型统计的医保基金结算人次与金额（汇总数据，不含个人信息）。",
        "Monthly medical insurance settlements by scheme and type of care (aggregated, no personal data).",
        "S94",
        "monthly",
        "table",
        ["医保", "medical insurance", "医疗"],
        datasets.insurance_settlements,
    ),
    (
        "merchant_health",
        "{city}医疗机构门诊量数据",
        "{city_en} outpatient visits",
        "二级以上医疗机构门急诊人次、科室分布和季节变化。",
        "Outpatient and emergency visits at hospitals by department and season.",
        "Q84",
        "weekly",
        "time_series",
        ["医疗", "hospital", "门诊"],
        datasets.outpatient,
    ),
    (
        "government",
        "{city}旅游景区客流数据",
        "{city_en} tourist site visitors",
        "A级旅游景区每日入园人数与游客来源地分布。",
        "Daily visitors at rated tourist sites and where they come from.",
        "R88",
        "daily",
        "table",
        ["旅游", "tourism", "文旅"],
        datasets.tourism,
    ),
    (
        "government",
        "{city}电力负荷与用电量数据",
        "{city_en} power load and consumption",
        "分行业日用电量与最大负荷。",
        "Daily electricity consumption and peak load by sector.",
        "D44",
        "daily",
        "time_series",
        ["能源", "energy", "电力"],
        datasets.power,
    ),
    (
        "merchant_traffic",
        "{city}电商网络零售数据",
        "{city_en} online retail sales",
        "本地电商平台分品类网络零售额与农产品上行数据。",
        "Online retail sales by category, including farm produce sold online.",
        "F52",
        "monthly",
        "table",
        ["电商", "e-commerce", "零售"],
        datasets.online_retail,
    ),
]
CITIES = [
    ("520100", "520102", "贵阳市", "Guiyang"),
    ("520300", "520302", "遵义市", "Zunyi"),
    ("520400", "520402", "安顺市", "Anshun"),
    ("520500", "520502", "毕节市", "Bijie"),
    ("520200", "520201", "六盘水市", "Liupanshui"),
    ("520600", "520602", "铜仁市", "Tongren"),
    ("522600", "522601", "黔东南州", "Qiandongnan"),
    ("522700", "522701", "黔南州", "Qiannan"),
]
PLAN_SETS = [
    [
        PlanIn(
            name_zh="年度订阅",
            name_en="Yearly subscription",
            kind="yearly",
            price="36000",
            delivery_modes=["delta_sharing", "api"],
            policy=PolicyIn(purposes=["commercial", "internal_analytics"]),
        )
    ],
    [
        PlanIn(
            name_zh="一次性购买",
            name_en="One-time purchase",
            kind="one_time",
            price="8800",
            delivery_modes=["download"],
        ),
        PlanIn(name_zh="按次调用", name_en="Pay per call", kind="per_call", price="0.05", delivery_modes=["api"]),
    ],
    [
        PlanIn(
            name_zh="开放数据",
            name_en="Open data",
            kind="free",
            delivery_modes=["download"],
            policy=PolicyIn(purposes=["research", "public_service"], term_days=None, onward_transfer=True),
        )
    ],
    [
        PlanIn(
            name_zh="沙箱分析",
            name_en="Sandbox analysis",
            kind="monthly",
            price="5000",
            delivery_modes=["sandbox"],
            policy=PolicyIn(purposes=["research", "credit_assessment"], territory="CN-GZ", term_days=90),
        )
    ],
    [
        PlanIn(
            name_zh="按千行计费",
            name_en="Per 1,000 rows",
            kind="per_1000_rows",
            price="12",
            delivery_modes=["download", "delta_sharing"],
        ),
        PlanIn(name_zh="定制询价", name_en="Custom quote", kind="quote", delivery_modes=["sandbox"]),
    ],
]


def _actor(db: Session, org: Organisation) -> Actor:
    user = db.scalars(select(User).where(User.org_id == org.id).order_by(User.id)).first()
    return Actor(
        user_id=user.id if user else None,
        org_id=org.id,
        org_role="admin",
        org_status=org.status,
        org_type=org.org_type,
        via="cli",
        display_name=user.display_name if user else org.name,
    )


def seed(database: Database, settings: Settings, org_ids: dict[str, int]) -> None:
    rng = random.Random(20261122)
    signer = load_signer(settings.key_dir)
    with database.unit_of_work(write=False) as db:
        # Registrations the registry seed issued come first.
        earlier = list(db.scalars(select(Registration.id).where(Registration.status == "issued")
                                  .order_by(Registration.id)))
        holders = {key: actor_of(db, f"{key.replace('_', '.')}@qianshu.demo") for key in org_ids if key != "operator"}
        reviewer, operator = actor_of(db, "reviewer@qianshu.demo"), actor_of(db, "operator@qianshu.demo")
    products = [(i, j, city, theme) for i, city in enumerate(CITIES) for j, theme in enumerate(THEMES)
                if not (i + j) % 2]  # about half of the combinations, so that regions differ
    with tempfile.TemporaryDirectory(prefix="qianshu-demo-") as tmp:
        uploads = [_upload(Path(tmp), holders, city, theme, rng) for _i, _j, city, theme in products]
        ids = registrations.register(database, settings, uploads)
    with database.unit_of_work() as db:
        for upload, reg_id in zip(uploads, ids, strict=True):
            important = upload.declaration.industry_code in ("S94", "D44")
            registrations.issue(db, settings, signer, upload.holder, reviewer, operator, reg_id, Approval(
                classification="important" if important else None, reason="材料齐全，同意公示。"))
        listings: list[Listing] = []
        for reg_id in earlier:
            reg = db.get_one(Registration, reg_id)
            holder = next((a for a in holders.values() if a.org_id == reg.holder_org_id), None)
            if holder is not None and holder.org_status == "approved":
                listings.append(_list(db, holder, operator, reg, rng, listed=True, base=settings.public_base))
        for (i, j, _city, theme), upload, reg_id in zip(products, uploads, ids, strict=True):
            # About one in nine waits for the listing review; not Guiyang's traffic product, which
            # a newcomer's first search ("贵阳 traffic" and the first year of the data) should find.
            listings.append(_list(db, upload.holder, operator, db.get_one(Registration, reg_id), rng,
                                  listed=(i * 7 + j) % 9 != 4, tags=theme[8], data_type=theme[7],
                                  base=settings.public_base))
        orgs = {k: db.get_one(Organisation, v) for k, v in org_ids.items()}
        _follows_and_demands(db, orgs, listings, rng)


def _upload(folder: Path, holders: dict[str, Actor], city: tuple[str, str, str, str], theme: Theme,
            rng: random.Random) -> registrations.Upload:
    """A product's data file, generated for its prefecture, and its holder's declaration."""
    city_code, _county, name, name_en = city
    owner, tz, te, dz, de, industry, frequency, _data_type, _tags, make = theme
    generated = make(folder, datasets.prefectures()[city_code], rng)
    source = "public_data" if owner == "government" else "own_collection"
    return registrations.Upload(holders[owner], generated.path, Declaration(
        title_zh=tz.format(city=name), title_en=te.format(city_en=name_en),
        description_zh=dz.format(city=name) + f"数据时间范围：{generated.start} 至 {generated.end}。",
        description_en=de.format(city_en=name_en) + f" {generated.start.year}-{generated.end.year}.",
        industry_code=industry, division_code=city_code, time_coverage_start=generated.start,
        time_coverage_end=generated.end, update_frequency=frequency, source=source,
        lawful_basis=("政务数据，依《贵州省政务数据资源管理办法》授权运营。" if source == "public_data"
                      else "企业自有业务系统采集，已履行告知同意义务。"),
        rights=["holding", "processing_use", "operation"]))


def _list(
    db: Session,
    holder: Actor,
    operator: Actor,
    reg: Registration,
    rng: random.Random,
    *,
    listed: bool,
    tags: list[str] | None = None,
    data_type: str = "table",
    base: str,
) -> Listing:
    listing = service.create_listing(
        db,
        holder,
        ListingIn(registration_id=reg.id, tags=tags or [], data_type=data_type),
    )
    for plan in rng.choice(PLAN_SETS):
        service.add_plan(db, holder, listing.id, plan, base_url=base)
    # the demo's sellers confirm offering the (synthetic) personal data they registered
    service.submit_listing(db, holder, listing.id, confirm_personal_data=True)
    if listed:
        service.review_listing(db, operator, listing.id, "approve")
        listing.views = rng.randint(0, 800)
        listing.popularity = listing.views
    return listing


def _follows_and_demands(
    db: Session, orgs: dict[str, Organisation], listings: list[Listing], rng: random.Random
) -> None:
    buyer = _actor(db, orgs["buyer_logistics"])
    bank = _actor(db, orgs["bank"])
    listed = [x for x in listings if x.status == "listed"]
    for listing in rng.sample(listed, min(6, len(listed))):
        follows.follow(db, buyer, listing.id)
    if listed:
        follows.follow(db, bank, listed[0].id)
    follows.save_search(db, buyer, "贵阳交通", {"q": "交通", "region": "520100"})
    specs = [
        DemandIn(
            title="需要贵阳至遵义干线物流实时路况数据",
            description="用于干线运输路径优化和到达时间预测。",
            scenario="物流调度",
            industry_code="G54",
            division_code="520100",
            budget_min="20000",
            budget_max="80000",
        ),
        DemandIn(
            title="Need county-level rainfall forecasts for Bijie",
            description="Daily rainfall forecasts for crop insurance pricing.",
            scenario="agricultural insurance",
            industry_code="A01",
            division_code="520500",
            budget_min="5000",
            budget_max="30000",
        ),
        DemandIn(
            title="小微企业用电数据用于信贷风控",
            description="按月的企业用电量，用于普惠金融授信评估。",
            scenario="信贷风控",
            industry_code="D44",
            division_code="520000",
            budget_max="100000",
        ),
    ]
    merchant = _actor(db, orgs["merchant_traffic"])
    for i, spec in enumerate(specs):
        posted = demand.post_demand(db, bank if i == 2 else buyer, spec)
        if i == 0:
            own = next((x for x in listed if x.org_id == merchant.org_id), None)
            demand.respond(
                db,
                merchant,
                posted.id,
                DemandResponseIn(
                    listing_id=own.id if own else None,
                    planned_title="" if own else "干线路况数据",
                    message="可按线路提供实时数据。",
                    price="60000",
                ),
            )
