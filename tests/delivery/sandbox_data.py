"""Personal data for the sandbox tests: resident ids with their check characters, Chinese names,
counties of Guizhou, ages and incomes in yuan with fen."""

from __future__ import annotations

import random

import pyarrow as pa

from qianshu.core.identifiers import resident_id_check_char

COUNTIES = {"520102": "南明区", "520103": "云岩区", "520111": "花溪区", "520302": "红花岗区", "520402": "西秀区"}
SMALL_COUNTY = ("522301", "兴义市")  # only three residents: every group there is smaller than k
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰"


def _resident_id(rng: random.Random, division: str, born: int) -> str:
    first17 = f"{division}{born}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    return first17 + resident_id_check_char(first17)


def people_table(count: int = 2000, seed: int = 7) -> pa.Table:
    rng = random.Random(seed)
    rows: dict[str, list[object]] = {k: [] for k in ("row_no", "resident_id", "name", "county_code", "county",
                                                     "gender", "birth_year", "age", "income")}
    codes = list(COUNTIES)
    for index in range(count):
        code, county = (SMALL_COUNTY if index < 3 else (codes[index % len(codes)], COUNTIES[codes[index % len(codes)]]))
        born = rng.randint(1950, 2004)
        rows["row_no"].append(index)
        rows["resident_id"].append(_resident_id(rng, code, born))
        rows["name"].append(rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN) + str(index))
        rows["county_code"].append(code)
        rows["county"].append(county)
        rows["gender"].append(rng.choice("男女"))
        rows["birth_year"].append(born)
        rows["age"].append(2026 - born)
        rows["income"].append(round(rng.lognormvariate(10.3, 0.6), 2))
    return pa.table(rows)
