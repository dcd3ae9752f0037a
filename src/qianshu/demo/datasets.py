"""Data files for the demo catalogue's products, generated from Guizhou's real divisions.

Every product of the demo stands on a registration of one of these files, run through the
registration pipeline like any upload. The files are small (a few thousand rows) so that the
demo seeds quickly, but shaped like what a holder would send: county-level division codes and
names from ``data/guizhou_divisions.csv``, volumes scaled by each prefecture's residents at the
2020 census (``data/guizhou_prefectures.csv``), and the two years of dates up to yesterday (so
that a product's timeliness is what its update frequency promises on the day the demo is made).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from qianshu.core.timeutil import utcnow

DATA = Path(__file__).resolve().parent / "data"


@lru_cache(maxsize=1)
def span() -> tuple[dt.date, dt.date]:
    """The dates the demo's data covers: two years up to yesterday."""
    end = utcnow().date() - dt.timedelta(days=1)
    return end - dt.timedelta(days=730), end


@dataclass(frozen=True)
class County:
    code: str
    name: str


@dataclass(frozen=True)
class Prefecture:
    code: str
    name: str
    residents: int
    counties: tuple[County, ...]

    def some_counties(self, n: int) -> tuple[County, ...]:
        return self.counties[:n]

    def share(self, county: County) -> float:
        """A county's rough share of the prefecture's residents (urban districts first and larger)."""
        weights = [1.0 / (i + 1.5) for i in range(len(self.counties))]
        return weights[self.counties.index(county)] / sum(weights)


@lru_cache(maxsize=1)
def prefectures() -> dict[str, Prefecture]:
    with (DATA / "guizhou_divisions.csv").open(encoding="utf-8") as fh:
        divisions = list(csv.DictReader(fh))
    found = {}
    with (DATA / "guizhou_prefectures.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            counties = tuple(County(d["code"], d["name"]) for d in divisions if d["prefecture_code"] == row["code"])
            found[row["code"]] = Prefecture(row["code"], row["name"], int(row["residents_2020_census"]), counties)
    return found


@dataclass(frozen=True)
class Generated:
    path: Path
    start: dt.date
    end: dt.date


Maker = Callable[[Path, Prefecture, random.Random], Generated]


def _days(step: int = 1) -> list[dt.date]:
    """Every ``step``-th day of the span, counted back from its last day."""
    start, end = span()
    return sorted(end - dt.timedelta(days=d) for d in range(0, (end - start).days + 1, step))


def _months() -> list[str]:
    """The 24 whole months before the month of the span's end."""
    _start, end = span()
    current = end.year * 12 + end.month - 1  # months since year 0; the end's month is not yet whole
    return [f"{i // 12}-{i % 12 + 1:02d}" for i in range(current - 24, current)]


def _months_covered() -> tuple[dt.date, dt.date]:
    months = _months()
    first = dt.date.fromisoformat(months[0] + "-01")
    last = dt.date.fromisoformat(_months_after(months[-1]) + "-01") - dt.timedelta(days=1)
    return first, last


def _months_after(month: str) -> str:
    year, number = (int(x) for x in month.split("-"))  # number is 1-12: the next month is number + 1
    return f"{year + number // 12}-{number % 12 + 1:02d}"


def _season(day: dt.date) -> float:
    """1 at midsummer, -1 at midwinter."""
    return math.sin((day.timetuple().tm_yday - 110) / 365 * 2 * math.pi)


def _csv(path: Path, header: list[str], rows: list[list[object]], encoding: str = "utf-8") -> None:
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def road_traffic(folder: Path, p: Prefecture, r: random.Random) -> Generated:
    roads = ["环城快速路", "人民大道", "迎宾大道", "中山路", "解放路", "新华路"]
    rows: list[list[object]] = []
    for day in _days():
        for n, county in enumerate(p.some_counties(4)):
            weekday = 1.15 if day.weekday() < 5 else 0.85
            flow = int(p.residents * p.share(county) / 60 * weekday * r.uniform(0.85, 1.15))
            rows.append([day.isoformat(), f"KK{county.code}{n:02d}", roads[n % len(roads)], county.code, flow,
                         round(r.uniform(22, 48) / weekday, 1), round(r.uniform(1.2, 3.8) * weekday, 2)])
    path = folder / f"{p.name}道路卡口日车流量.csv"
    _csv(path, ["日期", "卡口编号", "道路", "行政区划代码", "车流量", "平均车速_kmh", "拥堵指数"], rows)
    return Generated(path, *span())


def bus_ridership(folder: Path, p: Prefecture, r: random.Random) -> Generated:
    lines = [f"{n}路" for n in (1, 2, 5, 11, 23, 48)]
    rows: list[list[object]] = []
    for day in _days():
        for county in p.some_counties(3):
            for line in r.sample(lines, 2):
                boardings = int(p.residents * p.share(county) / 400 * r.uniform(0.7, 1.3))
                rows.append([day.isoformat(), line, f"{county.name}客运站", county.code, r.randint(60, 140),
                             boardings, int(boardings * r.uniform(0.9, 1.05))])
    path = folder / f"{p.name}公交线路客流.csv"
    _csv(path, ["日期", "线路", "站点", "行政区划代码", "到站班次", "上车人次", "下车人次"], rows, "gb18030")
    return Generated(path, *span())


def logistics_times(folder: Path, p: Prefecture, r: random.Random) -> Generated:
    all_counties = [c for q in prefectures().values() for c in q.counties]
    rows: list[list[object]] = []
    for i in range(1500):
        origin = r.choice(p.counties)
        start, _end = span()
        picked = dt.datetime.combine(start, dt.time(8)) + dt.timedelta(minutes=r.randint(0, 727 * 24 * 60))
        hours = round(r.uniform(6, 30) if r.random() < 0.7 else r.uniform(30, 72), 1)
        rows.append([f"QY{p.code}{i:07d}", origin.code, r.choice(all_counties).code,
                     picked.isoformat(sep=" ", timespec="minutes"),
                     (picked + dt.timedelta(hours=hours)).isoformat(sep=" ", timespec="minutes"), hours])
    path = folder / f"{p.name}物流运单时效.csv"
    _csv(path, ["运单编号", "始发区县代码", "目的区县代码", "揽收时间", "签收时间", "时效_小时"], rows)
    return Generated(path, *span())


def weather(folder: Path, p: Prefecture, r: random.Random) -> Generated:
    rows: list[list[object]] = []
    for day in _days():
        for n, county in enumerate(p.some_counties(3)):
            base = 15.5 + 9 * _season(day) - n * 0.8
            rain = max(0.0, r.gauss(3 + 4 * _season(day), 6))
            rows.append([f"5{p.code[2:4]}{n:02d}", county.name, county.code, day.isoformat(),
                         round(base + r.uniform(2, 6), 1), round(base - r.uniform(2, 5), 1), round(rain, 1),
                         round(r.uniform(0.5, 6), 1), "" if r.random() < 0.03 else r.randint(55, 98)])  # sensor gaps
    path = folder / f"{p.name}自动气象站逐日观测.csv"
    _csv(path, ["站号", "站名", "行政区划代码", "日期", "最高气温", "最低气温", "降水量_mm", "平均风速_ms",
                "相对湿度"], rows)
    return Generated(path, *span())


def agro_hazards(folder: Path, p: Prefecture, r: random.Random) -> Generated:
    kinds = [("干旱", (6, 7, 8)), ("冰雹", (4, 5, 6)), ("凝冻", (1, 2, 12)), ("暴雨", (5, 6, 7, 8)),
             ("低温阴雨", (3, 4, 9, 10)), ("大风", (3, 4, 11))]
    days = _days()
    rows: list[list[object]] = []
    for i in range(600):
        day = days[-1] if i == 0 else r.choice(days)  # the latest warning is yesterday's
        kind = r.choice([k for k, months in kinds if day.month in months] or ["大风"])
        county = r.choice(p.counties)
        rows.append([f"NQ{p.code}-{i:05d}", county.code, county.name, kind, r.choice(["蓝色", "黄色", "橙色", "红色"]),
                     day.isoformat(), round(r.uniform(50, 5000), 1), round(104 + r.uniform(0, 5), 4),
                     round(24.8 + r.uniform(0, 4), 4)])
    path = folder / f"{p.name}农业气象灾害预警.csv"
    _csv(path, ["预警编号", "行政区划代码", "区县", "灾害类型", "预警等级", "发布日期", "影响面积_公顷", "经度",
                "纬度"], sorted(rows, key=lambda row: str(row[5])))
    return Generated(path, *span())


def ecology(folder: Path, p: Prefecture, r: random.Random) -> Generated:
    rows: list[list[object]] = []
    for day in _days():
        for county in p.some_counties(3):
            pm25 = max(5, int(r.gauss(32 - 12 * _season(day), 8)))
            rows.append([day.isoformat(), county.code, f"{county.name}国控点", int(pm25 * 1.4 + r.randint(0, 10)),
                         pm25, "" if r.random() < 0.05 else int(pm25 * 1.6), r.choice(["Ⅰ类", "Ⅱ类", "Ⅱ类", "Ⅲ类"])])
    path = folder / f"{p.name}生态环境监测.csv"
    _csv(path, ["监测日期", "行政区划代码", "监测点", "AQI", "PM2_5", "PM10", "地表水水质类别"], rows)
    return Generated(path, *span())


def insurance_settlements(folder: Path, p: Prefecture, r: random.Random) -> Generated:
    schemes = {"职工医保": 1.0, "城乡居民医保": 1.6}
    care = {"普通门诊": (6.0, 180), "门诊慢特病": (1.2, 650), "住院": (0.5, 8600), "定点药店购药": (4.0, 95)}
    rows: list[list[object]] = []
    for month in _months():
        for county in p.counties:
            for scheme, weight in schemes.items():
                for kind, (per_thousand, cost) in care.items():
                    cases = int(p.residents * p.share(county) / 1000 * per_thousand * weight * r.uniform(0.85, 1.15))
                    rows.append([month, county.code, county.name, scheme, kind, cases,
                                 round(cases * cost * r.uniform(0.9, 1.1), 2), round(r.uniform(0.55, 0.8), 3)])
    path = folder / f"{p.name}医保结算月度汇总.csv"
    _csv(path, ["结算月份", "行政区划代码", "区县", "险种", "就医类型", "结算人次", "结算金额_元", "统筹支付比例"],
         rows)
    return Generated(path, *_months_covered())


def outpatient(folder: Path, p: Prefecture, r: random.Random) -> Generated:
    departments = ["内科", "外科", "儿科", "妇产科", "急诊科", "中医科"]
    rows: list[list[object]] = []
    for day in _days(7):
        for county in p.some_counties(3):
            for dept in departments:
                flu = 1.35 if day.month in (12, 1, 2) and dept in ("内科", "儿科") else 1.0
                rows.append([day.isoformat(), f"{county.name}人民医院", county.code, dept,
                             int(p.residents * p.share(county) / 3000 * flu * r.uniform(0.8, 1.2))])
    path = folder / f"{p.name}医疗机构门急诊人次.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(dict(zip(["周起始日期", "医疗机构", "行政区划代码", "科室", "门急诊人次"], row,
                                         strict=True)), ensure_ascii=False) + "\n")
    return Generated(path, *span())


def tourism(folder: Path, p: Prefecture, r: random.Random) -> Generated:
    rows: list[list[object]] = []
    for day in _days():
        holiday = 2.5 if (day.month, day.day) in ((10, 1), (10, 2), (10, 3), (5, 1), (5, 2)) else 1.0
        summer = 1.4 if day.month in (7, 8) else 1.0  # Guizhou's cool summers draw visitors
        for county in p.some_counties(3):
            visitors = int(p.residents * p.share(county) / 900 * holiday * summer * r.uniform(0.7, 1.3))
            rows.append([day.isoformat(), f"{county.name}风景名胜区", r.choice(["4A", "4A", "5A", "3A"]), county.code,
                         visitors, round(r.uniform(0.25, 0.6), 2)])
    path = folder / f"{p.name}A级景区入园人数.csv"
    _csv(path, ["日期", "景区", "等级", "行政区划代码", "入园人次", "省外游客占比"], rows)
    return Generated(path, *span())


def power(folder: Path, p: Prefecture, r: random.Random) -> Generated:
    sectors = ["第一产业", "第二产业", "第三产业", "城乡居民生活"]
    rows: list[list[object]] = []
    for day in _days():
        for county in p.some_counties(2):
            for sector in sectors:
                use = p.residents * p.share(county) / 1e6 * r.uniform(2, 9) * (1 + 0.15 * abs(_season(day)))
                rows.append([day.isoformat(), county.code, sector, round(use, 2), round(use * r.uniform(45, 60), 1)])
    path = folder / f"{p.name}分行业日用电量.csv"
    _csv(path, ["日期", "行政区划代码", "行业", "用电量_万kWh", "最大负荷_MW"], rows)
    return Generated(path, *span())


def online_retail(folder: Path, p: Prefecture, r: random.Random) -> Generated:
    import pyarrow as pa
    import pyarrow.parquet as pq

    categories = ["茶叶", "辣椒制品", "刺梨饮品", "食用菌", "民族服饰", "白酒"]
    columns: dict[str, list[object]] = {"月份": [], "行政区划代码": [], "品类": [], "网络零售额_万元": [],
                                        "农产品上行额_万元": []}
    for month in _months():
        for county in p.counties:
            for category in r.sample(categories, 3):
                sales = round(p.residents * p.share(county) / 20_000 * r.uniform(0.5, 2), 2)
                for key, value in zip(columns, [month, county.code, category, sales,
                                                round(sales * r.uniform(0.2, 0.7), 2)], strict=True):
                    columns[key].append(value)
    path = folder / f"{p.name}网络零售月度统计.parquet"
    pq.write_table(pa.table(columns), path)
    return Generated(path, *_months_covered())
