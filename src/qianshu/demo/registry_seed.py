"""Demo step: registered data resources in every interesting state, through the real pipeline.

| data (generated here)                         | holder            | state                     |
|-----------------------------------------------|-------------------|---------------------------|
| 贵阳市主干道交通流量 (UTF-8 CSV)                | merchant_traffic  | issued, with certificate  |
| 贵州省气象站逐日观测 (GB18030 CSV)               | merchant_weather  | issued, with certificate  |
| 遵义市医保结算明细（脱敏前，含个人信息） (XLSX)      | merchant_health   | under review              |
| 贵阳市公交刷卡客流 (JSON Lines)                  | merchant_traffic  | public notice             |
| 贵州省山区道路气象预警 (CSV)                      | merchant_weather  | returned for changes      |
| 贵阳市出租车轨迹（未授权） (CSV)                  | merchant_traffic  | rejected                  |
| 遵义市药店销售汇总 (Parquet)                     | merchant_health   | issued, then revoked      |
| 遵义市医保结算研究样本（经授权） (XLSX)            | merchant_health   | issued (important data)   |

Each is registered through the registry's services (demo/registrations.py); the notice of the
issued ones is approved as having started one notice period ago, so it has just ended.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import tempfile
from pathlib import Path
from typing import Any

from qianshu.core.actor import Actor
from qianshu.core.db import Database
from qianshu.core.identifiers import resident_id_check_char
from qianshu.core.settings import Settings
from qianshu.core.signing import load_signer
from qianshu.demo import registrations
from qianshu.demo.registrations import actor_of
from qianshu.registry import review, schemas
from qianshu.registry.models import Registration

ROADS = ["中华北路", "延安中路", "北京路", "瑞金南路", "花溪大道", "甲秀南路", "长岭北路", "黔灵山路"]
STATIONS = [("57816", "贵阳", "520102"), ("57713", "遵义", "520302"), ("57806", "安顺", "520402"),
            ("57707", "毕节", "520502"), ("57741", "铜仁", "520602"), ("57902", "兴义", "522301")]
SURNAMES = "王李张刘陈杨黄赵吴周"
GIVEN = "伟芳娜敏静磊洋勇艳杰"


def _traffic(path: Path, r: random.Random, days: int = 30) -> None:
    start = dt.datetime(2026, 10, 1)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["时间", "道路", "行政区划代码", "车流量", "平均车速_kmh", "拥堵指数"])
        for h in range(days * 24):
            for road in ROADS:
                peak = 1.8 if h % 24 in (8, 18) else 1.0
                w.writerow([(start + dt.timedelta(hours=h)).isoformat(sep=" "), road, "520102",
                            int(r.gauss(900, 150) * peak), round(r.uniform(18, 55) / peak, 1),
                            round(r.uniform(1, 4) * peak, 2)])


def _weather(path: Path, r: random.Random) -> None:
    with path.open("w", encoding="gb18030", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["站号", "站名", "行政区划代码", "日期", "最高气温", "最低气温", "降水量_mm", "天气现象"])
        for d in range(365):
            day = dt.date(2025, 11, 1) + dt.timedelta(days=d)
            for code, name, division in STATIONS:
                base = 16 + 9 * __import__("math").sin((d - 80) / 58)
                rain = max(0.0, r.gauss(2, 6))
                w.writerow([code, name, division, day.isoformat(), round(base + r.uniform(3, 7), 1),
                            round(base - r.uniform(2, 6), 1), round(rain, 1),
                            r.choice(["晴", "多云", "阴", "小雨", "中雨", "雾"]) if rain < 8 else "大雨"])


def _resident_id(r: random.Random, division: str) -> str:
    body = f"{division}{r.randint(1940, 2010)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}{r.randint(0, 999):03d}"
    return body + resident_id_check_char(body)


def _claims(path: Path, r: random.Random) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["结算单号", "姓名", "身份证号", "手机号", "就诊医院", "诊断", "结算日期", "总费用", "统筹支付"])
    for i in range(1000):
        total = round(r.uniform(80, 12000), 2)
        ws.append([f"ZY2026{i:07d}", r.choice(SURNAMES) + r.choice(GIVEN) + r.choice(["", r.choice(GIVEN)]),
                   _resident_id(r, "520302"), f"1{r.choice('3578')}{r.randint(0, 999_999_999):09d}",
                   r.choice(["遵义医科大学附属医院", "遵义市第一人民医院", "汇川区人民医院"]),
                   r.choice(["高血压", "2型糖尿病", "肺炎", "骨折", "白内障"]),
                   (dt.date(2026, 1, 1) + dt.timedelta(days=r.randint(0, 300))).isoformat(), total,
                   round(total * r.uniform(0.5, 0.85), 2)])
    wb.save(path)


def _bus(path: Path, r: random.Random) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(3000):
            fh.write(json.dumps({"线路": f"{r.choice([1, 2, 48, 202, 258])}路", "站点": r.choice(ROADS) + "站",
                                 "日期": f"2026-10-{i % 28 + 1:02d}", "小时": i % 24,
                                 "刷卡人次": r.randint(10, 600)}, ensure_ascii=False) + "\n")


def _warnings(path: Path, r: random.Random) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["路段", "预警类型", "等级", "发布时间"])
        for i in range(200):
            w.writerow([f"G75 K{r.randint(1000, 1400)}", r.choice(["团雾", "凝冻", "强降雨"]),
                        r.choice(["蓝色", "黄色", "橙色"]), f"2026-01-{i % 28 + 1:02d} 06:00:00"])


def _taxi(path: Path, r: random.Random) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["车牌号", "司机手机", "经度", "纬度", "时间"])
        for i in range(800):
            w.writerow([f"贵A{r.choice('BCDEFGH')}{r.randint(1000, 9999)}", f"139{r.randint(0, 99_999_999):08d}",
                        round(106.6 + r.uniform(0, 0.2), 5), round(26.5 + r.uniform(0, 0.2), 5),
                        f"2026-10-02 {i % 24:02d}:{i % 60:02d}:00"])


def _pharmacy(path: Path, r: random.Random) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 2000
    pq.write_table(pa.table({
        "门店": [f"遵义大药房{r.randint(1, 40)}号店" for _ in range(n)],
        "月份": [f"2026-{r.randint(1, 10):02d}" for _ in range(n)],
        "药品类别": [r.choice(["感冒药", "降压药", "维生素", "中成药"]) for _ in range(n)],
        "销售额_元": [round(r.uniform(100, 50_000), 2) for _ in range(n)],
    }), path)


def _declaration(title_zh: str, title_en: str, industry: str, division: str, frequency: str,
                 start: dt.date, end: dt.date, desc: str, source: str = "own_collection") -> schemas.Declaration:
    return schemas.Declaration(
        title_zh=title_zh, title_en=title_en, description_zh=desc, description_en=f"{title_en} (demo data).",
        industry_code=industry, division_code=division, time_coverage_start=start, time_coverage_end=end,
        update_frequency=frequency, source=source,
        lawful_basis=("企业自有业务系统采集，已履行告知同意义务。" if source != "purchased"
                      else "外购，采购合同编号 QS-2026-018。"),
        rights=["holding", "processing_use", "operation"])


def _contract_pdf(number: str) -> bytes:
    """A one-page purchase contract: purchased data is submitted with its contract."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    pdf.setFont("STSong-Light", 16)
    pdf.drawString(72, 770, f"数据采购合同（编号 {number}）")
    pdf.setFont("STSong-Light", 11)
    pdf.drawString(72, 740, "卖方：贵阳某出行服务有限公司　买方：贵阳交通大数据有限公司（演示）")
    pdf.drawString(72, 720, "标的：2026年10月出租车GPS轨迹数据，用于交通流量分析。")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def seed(database: Database, settings: Settings, org_ids: dict[str, int]) -> None:
    r = random.Random(2026)
    signer = load_signer(settings.key_dir)
    with database.unit_of_work(write=False) as db:
        traffic, weather = actor_of(db, "merchant.traffic@qianshu.demo"), actor_of(db, "merchant.weather@qianshu.demo")
        health, provider = actor_of(db, "merchant.health@qianshu.demo"), actor_of(db, "service.provider@qianshu.demo")
        reviewer, operator = actor_of(db, "reviewer@qianshu.demo"), actor_of(db, "operator@qianshu.demo")
        buyer = actor_of(db, "buyer.logistics@qianshu.demo")
    gy, zy, gz = "520102", "520302", "520100"
    with tempfile.TemporaryDirectory(prefix="qianshu-demo-") as tmp:
        folder = Path(tmp)
        specs: list[tuple[Actor, str, Any, schemas.Declaration]] = [
            (traffic, "贵阳主干道交通流量_202610.csv", _traffic, _declaration(
                "贵阳市主干道小时交通流量", "Hourly traffic flow on Guiyang arterial roads", "G54", gy, "daily",
                dt.date(2026, 10, 1), dt.date(2026, 10, 30),
                "贵阳市8条主干道逐小时车流量、平均车速与拥堵指数，来自地磁与视频检测器。")),
            (weather, "贵州气象站逐日观测.csv", _weather, _declaration(
                "贵州省国家气象站逐日观测", "Daily observations of Guizhou weather stations", "M74", "520000", "daily",
                dt.date(2025, 11, 1), dt.date(2026, 10, 31),
                "六个国家基本气象站逐日最高、最低气温与降水量，GB18030 编码导出。")),
            (health, "遵义医保结算明细.xlsx", _claims, _declaration(
                "遵义市医保结算明细", "Zunyi medical insurance settlements", "J68", zy, "monthly",
                dt.date(2026, 1, 1), dt.date(2026, 10, 31),
                "医保结算明细，含参保人身份信息，拟脱敏后用于精算与控费分析。")),
            (traffic, "贵阳公交刷卡客流.jsonl", _bus, _declaration(
                "贵阳市公交刷卡客流", "Guiyang bus smart-card ridership", "G54", gy, "daily",
                dt.date(2026, 10, 1), dt.date(2026, 10, 28), "主要线路分站点分小时刷卡人次。")),
            (weather, "山区道路气象预警.csv", _warnings, _declaration(
                "贵州山区高速道路气象预警", "Weather warnings on Guizhou mountain expressways", "M74", gz, "realtime",
                dt.date(2026, 1, 1), dt.date(2026, 1, 28), "团雾、凝冻与强降雨预警。")),
            (traffic, "出租车轨迹样本.csv", _taxi, _declaration(
                "贵阳市出租车轨迹", "Guiyang taxi trajectories", "G54", gy, "realtime",
                dt.date(2026, 10, 2), dt.date(2026, 10, 2), "出租车GPS轨迹与司机联系方式。", source="purchased")),
            (health, "遵义药店销售汇总.parquet", _pharmacy, _declaration(
                "遵义市药店月度销售汇总", "Monthly pharmacy sales in Zunyi", "F52", zy, "monthly",
                dt.date(2026, 1, 1), dt.date(2026, 10, 31), "连锁药店分门店、分品类的月度销售额汇总，不含个人信息。")),
            (health, "遵义医保结算研究样本.xlsx", _claims, _declaration(
                "遵义市医保结算研究样本（经授权）", "Zunyi medical insurance settlements, licensed research sample",
                "J68", zy, "monthly", dt.date(2026, 1, 1), dt.date(2026, 6, 30),
                "经参保人授权用于精算研究的结算样本，含身份证号与手机号；目录预览自动脱敏。",
                source="authorised")),
        ]
        uploads = []
        for actor, name, make_file, decl in specs:
            path = folder / name
            make_file(path, r)
            contract = ("数据采购合同_QS-2026-018.pdf", _contract_pdf("QS-2026-018")) if decl.source == "purchased" \
                else None
            uploads.append(registrations.Upload(actor, path, decl, contract))
        ids = registrations.register(database, settings, uploads)
    traffic_id, weather_id, claims_id, bus_id, warn_id, taxi_id, pharmacy_id, research_id = ids
    past = registrations.notice_started_for_issue_now(settings)
    with database.unit_of_work() as db:
        for reg_id, actor in ((traffic_id, traffic), (weather_id, weather), (claims_id, health), (bus_id, traffic),
                              (warn_id, weather), (taxi_id, traffic), (pharmacy_id, health), (research_id, health)):
            review.submit(db, actor, reg_id)
        for reg_id in (traffic_id, weather_id, pharmacy_id):
            review.take(db, reviewer, reg_id)
            review.approve(db, reviewer, settings, reg_id, schemas.Approval(reason="材料齐全，同意公示。"), now=past)
        review.take(db, reviewer, research_id)
        review.approve(db, reviewer, settings, research_id, schemas.Approval(
            classification="important", personal_info="sensitive",
            reason="含敏感个人信息（医疗健康），确认为重要数据；仅限授权研究用途。"), now=past)
        review.attach_report(db, provider, signer, traffic_id, schemas.ReportIn(
            kind="compliance", title="数据合规评估报告", conclusion="数据来源合法，不含个人信息，符合登记要求。"))
        review.attach_report(db, provider, signer, weather_id, schemas.ReportIn(
            kind="quality", title="数据质量评估报告", conclusion="完整性与时效性良好。", score=92))
        for reg_id in (traffic_id, weather_id, pharmacy_id, research_id):
            review.issue_certificate(db, operator, settings, signer, reg_id)
        review.revoke(db, operator, pharmacy_id, "经核查，部分门店数据未取得授权，撤销登记。", signer)
        review.take(db, reviewer, claims_id)  # stays under review
        review.approve(db, reviewer, settings, bus_id, schemas.Approval(reason="同意公示。"))
        review.file_objection(db, buyer, bus_id, "部分站点数据与我司采集的数据重复，请核实权属。")
        review.return_for_changes(db, reviewer, warn_id, "请补充数据来源说明与更新机制。")
        review.reject(db, reviewer, taxi_id, "出租车轨迹含司机手机号，外购合同未覆盖个人信息处理授权。")
        db.flush()
        assert db.get_one(Registration, traffic_id).status == "issued"
