"""The watermark itself: what it changes, and that detection names the right recipient through
every format and attack the issue lists, and no one else (with the bound the statistic gives)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from qianshu.delivery.detection import critical_count, detect_file, log10_tail
from qianshu.delivery.files import FORMATS, original_sample, read_suspect, write_copy
from qianshu.delivery.watermark import (
    PLAN_SAMPLE_ROWS,
    NoIdentity,
    WatermarkKey,
    WatermarkPlan,
    WatermarkPolicy,
    canonical_text,
    make_plan,
    recipient_secret,
    watermark_batches,
)

ROWS = 20_000
SECRET = "exchange-secret-for-tests-" + "x" * 16
POLICY = WatermarkPolicy(tolerances={"收入": 0.05, "人口": 1})
LEAKER = WatermarkKey.for_contract(SECRET, "HT-2026-000042", "黔南某公司")
OTHERS = [WatermarkKey.for_contract(SECRET, f"HT-2026-{i:06d}") for i in range(1, 50) if i != 42]


def product_table(rows: int, seed: int = 7, prefix: str = "5201") -> pa.Table:
    rng = np.random.default_rng(seed)
    counties = np.array(["南明区", "云岩区", "花溪区", "乌当区", "白云区", "观山湖区"])
    return pa.table({
        "户编号": [f"{prefix}{i:010d}" for i in range(rows)],
        "县区": counties[rng.integers(0, len(counties), rows)],
        "地址": [f"幸福路{int(n)}号" for n in rng.integers(1, 999, rows)],
        "收入": np.round(rng.uniform(800, 20_000, rows), 2),
        "人口": rng.integers(1, 9, rows),
        "登记日期": [f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(rows)],
    })


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("product") / "product.parquet"
    pq.write_table(product_table(ROWS), path, row_group_size=5_000)
    return path


@pytest.fixture(scope="module")
def plan(original: Path) -> WatermarkPlan:
    return make_plan(original_sample(original, PLAN_SAMPLE_ROWS), POLICY)


def marked_table(original: Path, plan: WatermarkPlan, key: WatermarkKey, batch_rows: int = 4_096) -> pa.Table:
    source = pq.read_table(original)
    return pa.Table.from_batches(list(watermark_batches(source.to_batches(batch_rows), plan, key)))


@pytest.fixture(scope="module")
def leaked(original: Path, plan: WatermarkPlan) -> pa.Table:
    return marked_table(original, plan, LEAKER)


def test_the_secret_is_the_hmac_of_the_exchange_secret_and_the_contract() -> None:
    assert recipient_secret(SECRET, "HT-1") == recipient_secret(SECRET.encode(), "HT-1")
    assert recipient_secret(SECRET, "HT-1") != recipient_secret(SECRET, "HT-2")
    assert recipient_secret(SECRET, "HT-1") != recipient_secret("another exchange", "HT-1")


def test_the_plan_names_identity_and_marked_columns(plan: WatermarkPlan) -> None:
    assert plan.identity == ("户编号",)
    assert {c.name: c.kind for c in plan.columns} == {"县区": "text", "地址": "text", "收入": "numeric",
                                                      "人口": "numeric", "登记日期": "text"}
    income = plan.column("收入")
    assert income is not None
    assert (income.decimals, income.step) == (2, 0.05)


def test_integers_move_only_with_a_tolerance_and_a_table_without_identity_is_refused() -> None:
    table = product_table(500)
    plan = make_plan(table, WatermarkPolicy())
    assert plan.column("人口") is None
    assert plan.column("收入") is not None  # decimals: 5 units of the last digit by default
    with pytest.raises(NoIdentity):
        make_plan(pa.table({"县区": ["南明区", "云岩区"] * 50, "收入": [1.5] * 100}), WatermarkPolicy())


def test_aggregates_stay_within_the_tolerance_and_text_reads_the_same(original: Path, leaked: pa.Table) -> None:
    source = pq.read_table(original)
    assert leaked.schema == source.schema
    assert leaked.num_rows == source.num_rows
    assert leaked.column("户编号").equals(source.column("户编号"))
    for name, tolerance in POLICY.tolerances.items():
        before = source.column(name).to_numpy().astype(float)
        after = leaked.column(name).to_numpy().astype(float)
        moved = np.abs(after - before)
        assert moved.max() <= tolerance + 1e-9
        assert 0.05 < (moved > 0).mean() < 0.15  # about one row in gamma = 10
        assert abs(after.mean() - before.mean()) <= tolerance
        assert abs(after.sum() - before.sum()) <= tolerance * (moved > 0).sum()
    income = leaked.column("收入").to_numpy()
    assert np.allclose(income, np.round(income, 2))  # still two decimals, no 12.389999…
    for name in ("县区", "地址"):
        assert canonical_text(leaked.column(name)).equals(canonical_text(source.column(name)))
        assert 0.05 < pc.mean(pc.cast(pc.not_equal(leaked.column(name), source.column(name)),
                                     pa.float64())).as_py() < 0.15
    dates = pc.replace_substring(leaked.column("登记日期"), "/", "-")
    assert dates.equals(source.column("登记日期"))


def test_batches_do_not_change_the_marks(original: Path, plan: WatermarkPlan, leaked: pa.Table) -> None:
    assert marked_table(original, plan, LEAKER, batch_rows=777).equals(leaked)
    assert not marked_table(original, plan, OTHERS[0]).equals(leaked)


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_delivered_format_names_its_recipient(tmp_path: Path, original: Path, plan: WatermarkPlan,
                                                   leaked: pa.Table, fmt: str) -> None:
    path = tmp_path / f"copy.{fmt}"
    write_copy(leaked.to_batches(5_000), leaked.schema, path, fmt)
    if fmt == "csv-gb18030":
        path.read_bytes().decode("gb18030")
        with pytest.raises(UnicodeDecodeError):
            path.read_bytes().decode("utf-8")
    detection = detect_file(path, original, plan, [*OTHERS, LEAKER])
    assert detection.rows_aligned == ROWS
    assert detection.named is not None
    assert detection.named.key_id == LEAKER.key_id
    assert detection.named.matches == detection.named.marks
    assert detection.named.log10_adjusted < -100
    assert detection.false_positive_bound <= 1e-6


def _subset(table: pa.Table, share: float, seed: int = 3) -> pa.Table:
    rng = np.random.default_rng(seed)
    return table.take(pa.array(np.sort(rng.choice(table.num_rows, int(table.num_rows * share), replace=False))))


def _reorder_rename(table: pa.Table) -> pa.Table:
    order = ["登记日期", "收入", "地址", "户编号", "人口", "县区"]
    return table.select(order).rename_columns(["date", "income", "addr", "hh", "n", "county"])


def _round_coarser(table: pa.Table) -> pa.Table:
    return table.set_column(table.schema.get_field_index("收入"), "收入", pc.round(table.column("收入"), 1))


def _mixed(table: pa.Table) -> pa.Table:
    elsewhere = product_table(table.num_rows, seed=99, prefix="5299")
    return pa.concat_tables([table, elsewhere.cast(table.schema)]).take(
        pa.array(np.random.default_rng(5).permutation(2 * table.num_rows)))


ATTACKS: dict[str, tuple[Callable[[pa.Table], pa.Table], str]] = {
    "ten_percent_subset": (lambda t: _subset(t, 0.1), "parquet"),
    "columns_reordered_and_renamed": (_reorder_rename, "parquet"),
    "re_encoded_gb18030_csv": (lambda t: t, "csv-gb18030"),
    "re_encoded_xlsx": (lambda t: t, "xlsx"),
    "rounded_one_digit_coarser": (_round_coarser, "csv"),
    "mixed_with_as_many_rows_from_elsewhere": (_mixed, "parquet"),
    "all_at_once": (lambda t: _reorder_rename(_mixed(_round_coarser(_subset(t, 0.1)))), "xlsx"),
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_every_attack_still_names_the_recipient(tmp_path: Path, original: Path, plan: WatermarkPlan,
                                                leaked: pa.Table, attack: str) -> None:
    change, fmt = ATTACKS[attack]
    suspect = change(leaked)
    path = tmp_path / f"leak.{fmt}"
    write_copy(suspect.to_batches(), suspect.schema, path, fmt)
    detection = detect_file(path, original, plan, [*OTHERS, LEAKER])
    assert detection.named is not None, detection.candidates[:3]
    assert detection.named.key_id == LEAKER.key_id
    assert detection.named.adjusted_p <= 1e-6
    assert detection.false_positive_bound <= 1e-6
    runner_up = detection.candidates[1]
    assert runner_up.matches < runner_up.critical


def test_a_thousand_wrong_keys_stay_silent_and_the_bound_holds(tmp_path: Path, original: Path,
                                                               plan: WatermarkPlan, leaked: pa.Table) -> None:
    """The leaker is not among the candidates: none of 1,000 keys may be named. Under the null each
    candidate's p-value is (at least) uniform, so about 1 % of them fall below 0.01; the bound the
    detector reports is what the binomial tails at the critical counts add up to, at most 1e-6."""
    path = tmp_path / "leak.csv"
    suspect = _subset(leaked, 0.5)
    write_copy(suspect.to_batches(), suspect.schema, path, "csv")
    wrong = [WatermarkKey.for_contract(SECRET, f"HT-9-{i:05d}") for i in range(1000)]
    detection = detect_file(path, original, plan, wrong)
    assert detection.named is None
    assert all(c.matches < c.critical for c in detection.candidates)
    assert 0 < detection.false_positive_bound <= 1e-6
    expected = sum(10.0 ** log10_tail(c.marks, c.critical) for c in detection.candidates)
    assert detection.false_positive_bound == pytest.approx(expected)
    small = sum(c.p_value < 0.01 for c in detection.candidates)
    assert small <= 25  # Binomial(1000, <= 0.01): more than 25 has a chance below 1e-5
    assert min(c.marks for c in detection.candidates) > 200
    # The smallest p-value among 1,000 honest nulls is far from the Bonferroni line.
    assert min(c.log10_p for c in detection.candidates) > math.log10(1e-6 / 1000)


def test_a_copy_without_our_watermark_is_silent(tmp_path: Path, original: Path, plan: WatermarkPlan) -> None:
    path = tmp_path / "clean.csv"
    source = pq.read_table(original)
    write_copy(source.to_batches(), source.schema, path, "csv")
    detection = detect_file(path, original, plan, [*OTHERS, LEAKER])
    assert detection.rows_aligned == ROWS
    assert detection.named is None
    assert all(c.marks == 0 for c in detection.candidates)


def test_a_file_of_other_data_aligns_nothing(tmp_path: Path, original: Path, plan: WatermarkPlan) -> None:
    path = tmp_path / "other.csv"
    other = product_table(2_000, seed=11, prefix="4401")
    write_copy(other.to_batches(), other.schema, path, "csv")
    detection = detect_file(path, original, plan, [LEAKER])
    assert detection.named is None
    assert detection.rows_aligned == 0


def test_suspect_files_are_read_as_text(tmp_path: Path) -> None:
    table = pa.table({"a": ["００１", "x "], "b": [1.5, 2.0]})
    for fmt in FORMATS:
        path = tmp_path / f"t.{fmt}"
        write_copy(table.to_batches(), table.schema, path, fmt)
        read = read_suspect(path)
        assert read.column(0).to_pylist() == ["００１", "x "], fmt
        assert canonical_text(read.column(1)).to_pylist() == ["1.5", "2"], fmt


def test_the_binomial_tail_is_exact() -> None:
    for n in (1, 7, 40):
        for m in range(n + 2):
            exact = sum(math.comb(n, k) for k in range(m, n + 1)) / 2 ** n
            got = 10.0 ** log10_tail(n, m)
            assert got == pytest.approx(exact, rel=1e-9, abs=1e-300)
    assert critical_count(40, 1e-6) == min(m for m in range(42) if 10.0 ** log10_tail(40, m) <= 1e-6)
    assert critical_count(10, 1e-6) == 11  # ten marks can never reach one in a million


def test_a_product_identified_by_several_columns_is_traced(tmp_path: Path) -> None:
    """Rows identified by month, county and kind together (the demo's medical statistics are so):
    a 10 % subset of the copy, its columns reordered and renamed, in GB18030, names its recipient
    (detection joined the identity's texts with a separator of another string type and failed)."""
    months = [f"{2020 + i // 12}-{1 + i % 12:02d}" for i in range(40)]
    keys = [(m, 520100 + c, k) for m in months for c in range(50) for k in ("门诊", "住院", "购药", "慢病")]
    rng = np.random.default_rng(11)
    table = pa.table({"月份": [m for m, _, _ in keys], "区县代码": [c for _, c, _ in keys],
                      "类型": [k for _, _, k in keys], "金额": np.round(rng.uniform(1e4, 1e7, len(keys)), 2)})
    original = tmp_path / "product.parquet"
    pq.write_table(table, original)
    policy = WatermarkPolicy(identity=("月份", "区县代码", "类型"))
    plan = make_plan(original_sample(original, PLAN_SAMPLE_ROWS), policy)
    assert len(plan.identity) == 3
    copy = marked_table(original, plan, LEAKER)
    suspect = _subset(copy, 0.1).select(["金额", "类型", "区县代码", "月份"]).rename_columns(["a", "b", "c", "d"])
    path = tmp_path / "leak.csv"
    write_copy(suspect.to_batches(), suspect.schema, path, "csv-gb18030")
    detection = detect_file(path, original, plan, [*OTHERS, LEAKER])
    assert detection.rows_aligned == suspect.num_rows
    assert detection.named is not None
    assert detection.named.key_id == LEAKER.key_id
    assert detection.false_positive_bound <= 1e-6


def test_a_pair_beyond_the_two_best_columns_identifies_stations_by_day(tmp_path: Path) -> None:
    """Six stations a day for a year, with a weather column of seven values: no column identifies
    a row, nor does (day, weather), the two with the most values; (day, station) does, so the
    product is marked and traced (it was delivered unmarked before)."""
    rng = np.random.default_rng(3)
    days = [f"2025-{1 + d // 28:02d}-{1 + d % 28:02d}" for d in range(336)]
    stations = [57816, 57713, 57806, 57707, 57741, 57902]
    table = pa.table({"站号": [s for _ in days for s in stations], "日期": [d for d in days for _ in stations],
                      "天气现象": rng.choice(["晴", "阴", "小雨", "中雨", "大雨", "雾", "雪"], len(days) * 6),
                      "最高气温": np.round(rng.uniform(-5, 35, len(days) * 6), 1)})
    original = tmp_path / "weather.parquet"
    pq.write_table(table, original)
    plan = make_plan(original_sample(original, PLAN_SAMPLE_ROWS), WatermarkPolicy())
    assert set(plan.identity) == {"日期", "站号"}
    suspect = _subset(marked_table(original, plan, LEAKER), 0.1)
    path = tmp_path / "leak.csv"
    write_copy(suspect.to_batches(), suspect.schema, path, "csv")
    detection = detect_file(path, original, plan, [*OTHERS, LEAKER])
    assert detection.named is not None
    assert detection.named.key_id == LEAKER.key_id
