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


def test_the_plan_names_identity_and_marked_columns(original: Path, plan: WatermarkPlan) -> None:
    """The county (6 values), the address (a thousand) and the date (336) are what a buyer groups
    and filters by: no text mark. Copies delivered under rules 1 marked them, and detection still
    recomputes that plan for them."""
    assert plan.identity == ("户编号",)
    assert {c.name: c.kind for c in plan.columns} == {"收入": "numeric", "人口": "numeric"}
    income = plan.column("收入")
    assert income is not None
    assert (income.decimals, income.step) == (2, 0.05)
    earlier = make_plan(original_sample(original, PLAN_SAMPLE_ROWS), POLICY, rules=1)
    assert {c.name: c.kind for c in earlier.columns} == {"县区": "text", "地址": "text", "收入": "numeric",
                                                         "人口": "numeric", "登记日期": "text"}


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
    for name in ("县区", "地址", "登记日期"):  # grouped and filtered by: not one character changes
        assert leaked.column(name).equals(source.column(name))


def test_batches_do_not_change_the_marks(original: Path, plan: WatermarkPlan, leaked: pa.Table) -> None:
    assert marked_table(original, plan, LEAKER, batch_rows=777).equals(leaked)
    assert not marked_table(original, plan, OTHERS[0]).equals(leaked)


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_delivered_format_names_its_recipient(tmp_path: Path, original: Path, plan: WatermarkPlan,
                                                   leaked: pa.Table, fmt: str) -> None:
    path = tmp_path / f"copy.{fmt}"
    write_copy(leaked.to_batches(5_000), leaked.schema, path, fmt)
    if fmt == "csv-excel":  # a leaked copy that keeps Excel's byte-order mark is read past it
        assert path.read_bytes().startswith(b"\xef\xbb\xbf")
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
    # Each wrong key selects about a tenth of the ~2,000 marked cells the half copy shows.
    assert min(c.marks for c in detection.candidates) > 120
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
    # One marked column: one mark in ten rows would leave a tenth of these 2,016 rows some 20 marks,
    # short of the 26 that alpha = 1e-6 over 50 candidates needs; rules 3 mark one row in three.
    assert [c.name for c in plan.columns] == ["最高气温"]
    assert plan.gamma == 3
    suspect = _subset(marked_table(original, plan, LEAKER), 0.1)
    path = tmp_path / "leak.csv"
    write_copy(suspect.to_batches(), suspect.schema, path, "csv")
    detection = detect_file(path, original, plan, [*OTHERS, LEAKER])
    assert detection.named is not None
    assert detection.named.key_id == LEAKER.key_id
    assert detection.false_positive_bound <= 1e-6
    assert detect_file(path, original, plan, OTHERS).named is None


def test_a_small_products_copy_of_the_second_rules_is_still_traced(tmp_path: Path, original: Path) -> None:
    """Copies delivered under rules 2 (one row in ten) before small products were marked more
    often are traced too: detection tries both plans."""
    big = make_plan(original_sample(original, PLAN_SAMPLE_ROWS), POLICY)
    assert big.gamma == 10  # 20,000 rows, two columns: a tenth shows hundreds of marks as it is
    original = tmp_path / "small.parquet"
    pq.write_table(product_table(3_000), original)
    sample = original_sample(original, PLAN_SAMPLE_ROWS)
    current, earlier = make_plan(sample, POLICY), make_plan(sample, POLICY, rules=2)
    assert (current.gamma, earlier.gamma) == (9, 10)  # 3,000 rows, two marked columns
    assert current.columns == earlier.columns
    suspect = _subset(marked_table(original, earlier, LEAKER), 0.5)
    path = tmp_path / "leak.parquet"
    write_copy(suspect.to_batches(), suspect.schema, path, "parquet")
    detection = detect_file(path, original, (current, earlier), [*OTHERS, LEAKER])
    assert detection.named is not None
    assert detection.named.key_id == LEAKER.key_id


DISTRICTS = ["南明区", "云岩区", "花溪区", "乌当区", "白云区", "观山湖区", "清镇市", "修文县", "息烽县", "开阳县"]


def demo_like_table(rows: int = 6_000) -> pa.Table:
    """Like the demo's product: a district of ten values, amounts in the millions with two
    decimals, and a free-text note a buyer reads but does not group by."""
    rng = np.random.default_rng(11)
    return pa.table({
        "编号": [f"GY{i:08d}" for i in range(rows)],
        "区县": np.array(DISTRICTS)[rng.integers(0, len(DISTRICTS), rows)],
        "金额": np.round(rng.uniform(1_000_000, 9_000_000, rows), 2),
        "备注": [f"第{int(n)}批次抽查记录" for n in rng.integers(0, rows, rows)],
    })


@pytest.fixture(scope="module")
def demo_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo_like") / "product.parquet"
    pq.write_table(demo_like_table(), path)
    return path


def test_a_marked_copy_groups_and_filters_like_the_original(demo_like: Path) -> None:
    """The buyer's groupby and == see the same districts and rows; each district's total moves by
    whole steps of 0.05 that mostly cancel; an amount in the millions is read as having two
    decimals and moves by 5 units of the second (0.05), not of the first."""
    plan = make_plan(original_sample(demo_like, PLAN_SAMPLE_ROWS), WatermarkPolicy())
    amount = plan.column("金额")
    assert amount is not None
    assert (amount.decimals, amount.step) == (2, 0.05)
    assert plan.column("区县") is None
    assert plan.column("备注") is not None  # free text (most notes differ): marked
    source = pq.read_table(demo_like)
    copy = marked_table(demo_like, plan, LEAKER)
    assert copy.column("区县").equals(source.column("区县"))
    assert sorted(pc.unique(copy.column("区县")).to_pylist()) == sorted(DISTRICTS)
    before = source.group_by("区县").aggregate([("金额", "sum"), ("金额", "count")]).sort_by("区县")
    after = copy.group_by("区县").aggregate([("金额", "sum"), ("金额", "count")]).sort_by("区县")
    assert after.column("区县").equals(before.column("区县"))
    assert after.column("金额_count").equals(before.column("金额_count"))  # df[df.区县 == d] finds every row
    moved = np.abs(copy.column("金额").to_numpy() - source.column("金额").to_numpy())
    assert 0.05 < (moved > 0).mean() < 0.15
    assert np.allclose(moved[moved > 0], 0.05, atol=1e-6)  # 5 units of the true last digit
    changed = np.abs(after.column("金额_sum").to_numpy() - before.column("金额_sum").to_numpy())
    marked_per_district = copy.num_rows * 0.1 / len(DISTRICTS)
    assert changed.max() <= 0.05 * 4 * math.sqrt(marked_per_district)  # the signs balance
    means = np.abs(changed / before.column("金额_count").to_numpy())
    assert means.max() <= 0.05


def test_a_subset_of_a_demo_like_copy_renamed_and_reordered_names_its_contract(tmp_path: Path,
                                                                               demo_like: Path) -> None:
    plan = make_plan(original_sample(demo_like, PLAN_SAMPLE_ROWS), WatermarkPolicy())
    suspect = _subset(marked_table(demo_like, plan, LEAKER), 0.1)
    suspect = suspect.select(["金额", "备注", "编号", "区县"]).rename_columns(["amount", "note", "id", "district"])
    path = tmp_path / "leak.csv"
    write_copy(suspect.to_batches(), suspect.schema, path, "csv")
    detection = detect_file(path, demo_like, plan, [*OTHERS, LEAKER])
    assert detection.named is not None
    assert detection.named.key_id == LEAKER.key_id
    assert detection.false_positive_bound <= 1e-6


def test_a_copy_delivered_under_the_first_rules_is_still_traced(tmp_path: Path) -> None:
    """Rules 1 marked the district and read the amounts as whole yuan (steps of 5): detection tries
    both plans, Bonferroni over both, and names the contract of such a copy; a copy of the new rules
    too, and a copy no candidate made stays silent."""
    original = tmp_path / "no-notes.parquet"  # no free text: rules 1 and 2 share no marked column
    pq.write_table(demo_like_table().drop_columns(["备注"]), original)
    sample = original_sample(original, PLAN_SAMPLE_ROWS)
    current, earlier = make_plan(sample, WatermarkPolicy()), make_plan(sample, WatermarkPolicy(), rules=1)
    assert earlier != current
    assert earlier.column("区县") is not None
    for made_with in (earlier, current):
        suspect = _subset(marked_table(original, made_with, LEAKER), 0.1)
        path = tmp_path / "leak.parquet"
        write_copy(suspect.to_batches(), suspect.schema, path, "parquet")
        detection = detect_file(path, original, (current, earlier), [*OTHERS, LEAKER])
        assert detection.named is not None
        assert detection.named.key_id == LEAKER.key_id
        assert detection.false_positive_bound <= 1e-6
        assert (detect_file(path, original, current, [*OTHERS, LEAKER]).named is None) == (made_with is earlier)
    detection = detect_file(path, original, (current, earlier), OTHERS)
    assert detection.named is None
    assert all(c.matches < c.critical for c in detection.candidates)
    assert detection.false_positive_bound <= 1e-6
