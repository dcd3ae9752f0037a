"""Helpers for the registry tests: real files in tmp_path, the real pipeline, real jobs."""

from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest

from qianshu.core.identifiers import resident_id_check_char

HEADER = ["姓名", "身份证号", "手机号", "行政区划代码", "金额", "日期", "地址"]


def resident_id(r: random.Random) -> str:
    body = f"520102{r.randint(1950, 2005)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}{r.randint(0, 999):03d}"
    return body + resident_id_check_char(body)


def people_rows(n: int, seed: int = 1) -> list[list[Any]]:
    r = random.Random(seed)
    rows = []
    for _ in range(n):
        rows.append([r.choice("王李张刘陈") + r.choice("伟娜敏静磊洋"), resident_id(r),
                     f"1{r.choice('3589')}{r.randint(0, 999_999_999):09d}", r.choice(["520102", "520103", "520111"]),
                     f"{r.randint(0, 99_999) / 100:.2f}",
                     (dt.date(2025, 1, 1) + dt.timedelta(days=r.randint(0, 300))).isoformat(),
                     r.choice(["", "贵州省贵阳市云岩区中华北路12号", "备注"])])
    return rows


def write_csv(path: Path, rows: list[list[Any]], encoding: str = "utf-8", header: list[str] | None = None) -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header or HEADER)
        writer.writerows(rows)
    return path


@pytest.fixture
def gb_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "居民.csv", people_rows(300), encoding="gb18030")


@pytest.fixture
def merchant(make):  # type: ignore[no-untyped-def]
    return make.user(organisation=make.org(org_type="data_merchant"))


@pytest.fixture
def reviewer(make):  # type: ignore[no-untyped-def]
    return make.operator(staff_role="reviewer")


@pytest.fixture
def operator(make):  # type: ignore[no-untyped-def]
    return make.operator(staff_role="operator")
