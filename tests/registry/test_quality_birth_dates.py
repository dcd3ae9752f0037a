"""Birth dates say when people were born, not when the data was collected: no penalty on coverage."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest

from qianshu.registry import service
from tests.registry.conftest import resident_id, write_csv
from tests.registry.helpers import DECLARATION, process


def _rows(n: int = 120) -> list[list[Any]]:
    r = random.Random(7)
    return [[r.choice("王李张刘陈") + r.choice("伟娜敏静磊洋"), resident_id(r),
             (dt.date(1950, 1, 1) + dt.timedelta(days=r.randint(0, 35 * 365))).isoformat(),
             (dt.date(2025, 1, 1) + dt.timedelta(days=r.randint(0, 360))).isoformat(),
             f"{r.randint(100, 99_999) / 100:.2f}"] for _ in range(n)]


def _scores(database: Any, db: Any, settings: Any, make: Any, merchant: Any, path: Path,
            old_dates_column: str) -> dict[str, Any]:
    m = make.actor(merchant)
    write_csv(path, _rows(), header=["姓名", "身份证号", old_dates_column, "交易日期", "金额"])
    reg = process(database, db, settings, m, [path])
    service.update_declaration(db, m, reg.id, DECLARATION)  # coverage 2025-01-01 … 2025-12-31
    db.flush()
    return {s.indicator: s for s in service.quality_report(db, reg.id)}


@pytest.mark.parametrize("column", ["出生日期", "birth_date", "DOB"])
def test_birth_dates_decades_before_the_coverage_do_not_count(  # type: ignore[no-untyped-def]
        database, db, settings, make, merchant, tmp_path, column) -> None:
    scores = _scores(database, db, settings, make, merchant, tmp_path / "people.csv", column)
    assert scores["consistency"].score == 100
    assert scores["consistency"].detail["params"]["inside"] == "agree with"
    assert scores["timeliness"].detail["params"]["latest"].startswith("2025-")
    reg = service.load_registration(db, scores["consistency"].registration_id)
    assert reg.measurements["earliest_date"] >= "2025-01-01"
    assert reg.measurements["birth_date_columns"] == [column]


def test_other_old_dates_still_fall_outside_the_coverage(  # type: ignore[no-untyped-def]
        database, db, settings, make, merchant, tmp_path) -> None:
    scores = _scores(database, db, settings, make, merchant, tmp_path / "accounts.csv", "开户日期")
    assert scores["consistency"].score == 90
    assert scores["consistency"].detail["params"]["inside"] == "fall outside"


def test_a_date_column_that_repeats_the_resident_ids_birth_date_is_a_birth_date(  # type: ignore[no-untyped-def]
        database, db, settings, make, merchant, tmp_path) -> None:
    rows = _rows()
    for row in rows:  # the neutral "日期" column holds each person's birth date, as their resident ID says
        born = row[1][6:14]
        row[2] = f"{born[:4]}-{born[4:6]}-{born[6:]}"
    m = make.actor(merchant)
    path = write_csv(tmp_path / "people.csv", rows, header=["姓名", "身份证号", "日期", "交易日期", "金额"])
    reg = process(database, db, settings, m, [path])
    service.update_declaration(db, m, reg.id, DECLARATION)
    db.flush()
    scores = {s.indicator: s for s in service.quality_report(db, reg.id)}
    assert scores["consistency"].score == 100
    assert service.load_registration(db, reg.id).measurements["birth_date_columns"] == ["日期"]
