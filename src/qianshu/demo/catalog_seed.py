"""Demo catalogue: a few dozen realistic data products across Guizhou's industries and regions.

Products of the registrations issued by ``registry_seed`` are listed first; the rest stand on
lightweight issued registrations made here (numbers ``QS-DR-2025-8xxxxx``, no data file, so
their pages show no sample). Most products are listed, a few wait for review; a buyer follows
some and the demand pool holds a few demands.
"""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.accounts.models import Organisation, User
from qianshu.catalog import demand, follows, service
from qianshu.catalog.models import Listing
from qianshu.catalog.schemas import DemandIn, DemandResponseIn, ListingIn, PlanIn, PolicyIn
from qianshu.core.actor import Actor
from qianshu.core.db import Database
from qianshu.core.settings import Settings
from qianshu.core.timeutil import utcnow
from qianshu.registry.models import Registration

# (key of the holder, zh title, en title, zh description, en description, industry, frequency, data type, tags)
THEMES = [
    (
        "merchant_traffic",
        "{city}道路交通流量数据",
        "{city_en} road traffic flow",
        "{city}主要道路卡口每小时车流量、平均车速与拥堵指数。",
        "Hourly vehicle counts, average speed and congestion index at {city_en}'s main road checkpoints.",
        "G54",
        "realtime",
        "time_series",
        ["交通", "traffic", "拥堵"],
    ),
    (
        "merchant_traffic",
        "{city}公交到站与客流数据",
        "{city_en} bus arrivals and ridership",
        "公交线路到站时间、上下车客流，按线路和站点汇总。",
        "Bus arrival times and boardings by line and stop.",
        "G54",
        "daily",
        "table",
        ["公交", "bus", "客流"],
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
    ),
    (
        "merchant_weather",
        "{city}气象观测数据",
        "{city_en} weather observations",
        "自动气象站逐小时气温、降水、风速和湿度。",
        "Hourly temperature, rainfall, wind and humidity from automatic weather stations.",
        "M74",
        "realtime",
        "time_series",
        ["气象", "weather", "降水"],
    ),
    (
        "merchant_weather",
        "{city}农业气象灾害预警",
        "{city_en} agro-meteorological hazard warnings",
        "干旱、冰雹、凝冻等农业气象灾害预警与影响评估。",
        "Warnings and impact estimates for drought, hail and freezing rain on farms.",
        "A01",
        "daily",
        "geospatial",
        ["农业", "agriculture", "气象"],
    ),
    (
        "merchant_weather",
        "{city}生态环境监测数据",
        "{city_en} ecological monitoring",
        "空气质量、地表水水质和森林覆盖监测数据。",
        "Air quality, surface water quality and forest cover monitoring.",
        "N77",
        "daily",
        "time_series",
        ["生态", "ecology", "空气质量"],
    ),
    (
        "merchant_health",
        "{city}医保结算统计数据",
        "{city_en} medical insurance settlements",
        "按月、按病种统计的医保基金结算金额与人次（汇总数据）。",
        "Monthly medical insurance settlements by diagnosis group (aggregated).",
        "S93",
        "monthly",
        "table",
        ["医保", "medical insurance", "医疗"],
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
    ),
    (
        "government",
        "{city}电力负荷与用电量数据",
        "{city_en} power load and consumption",
        "分行业用电量与日负荷曲线。",
        "Electricity consumption by industry and daily load curves.",
        "D44",
        "daily",
        "time_series",
        ["能源", "energy", "电力"],
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


def _operator(db: Session, operator_org_id: int) -> Actor:
    user = db.scalars(select(User).where(User.org_id == operator_org_id, User.staff_role == "operator")).first()
    return Actor(
        user_id=user.id if user else None,
        org_id=operator_org_id,
        staff_role="operator",
        org_status="approved",
        via="cli",
        display_name=user.display_name if user else "operator",
    )


def seed(database: Database, settings: Settings, org_ids: dict[str, int]) -> None:
    rng = random.Random(20261122)
    with database.unit_of_work() as db:
        orgs = {k: db.get_one(Organisation, v) for k, v in org_ids.items()}
        operator = _operator(db, org_ids["operator"])
        listings: list[Listing] = []
        # Registrations the registry seed issued come first.
        for reg in db.scalars(select(Registration).where(Registration.status == "issued")):
            holder = next((o for o in orgs.values() if o.id == reg.holder_org_id), None)
            if holder is not None and holder.status == "approved":
                listings.append(_list(db, _actor(db, holder), operator, reg, rng, listed=True))
        n = 800000
        for i, (city_code, county, city, city_en) in enumerate(CITIES):
            for j, (owner, tz, te, dz, de, industry, freq, dtype, tags) in enumerate(THEMES):
                if (i + j) % 2:  # about half of the combinations, so that regions differ
                    continue
                holder = orgs[owner]
                n += 1
                reg = Registration(
                    holder_org_id=holder.id,
                    status="issued",
                    number=f"QS-DR-2025-{n:06d}",
                    title_zh=tz.format(city=city),
                    title_en=te.format(city_en=city_en),
                    description_zh=dz.format(city=city),
                    description_en=de.format(city_en=city_en) + " 2024-2025.",
                    industry_code=industry,
                    division_code=county if j % 3 else city_code,
                    update_frequency=freq,
                    classification="important" if industry in ("S93", "D44") else "general",
                    personal_info="personal" if industry in ("S93", "Q84") else "none",
                    row_count=rng.randint(10_000, 5_000_000),
                    column_count=rng.randint(6, 40),
                    issued_at=utcnow() - timedelta(days=rng.randint(5, 300)),
                )
                db.add(reg)
                db.flush()
                # About one in nine waits for the listing review; not Guiyang's traffic product, which
                # a newcomer's first search ("贵阳 traffic 2024") should find.
                listing = _list(
                    db, _actor(db, holder), operator, reg, rng, listed=(i * 7 + j) % 9 != 4, tags=tags, data_type=dtype
                )
                listings.append(listing)
        _follows_and_demands(db, orgs, listings, rng)


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
) -> Listing:
    listing = service.create_listing(
        db,
        holder,
        ListingIn(registration_id=reg.id, tags=tags or [], data_type=data_type),
    )
    for plan in rng.choice(PLAN_SETS):
        service.add_plan(db, holder, listing.id, plan, base_url="")
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
