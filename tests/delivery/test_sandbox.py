"""The sandbox (数据可用不可见) against real Parquet files with personal data: legitimate
aggregates give DuckDB's own answers; every attack of the issue's list is refused or neutralised;
small groups and differences that isolate one person are suppressed; the time limit cuts off;
no error message carries a value of the data."""

from __future__ import annotations

import math
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from qianshu.core.analytics import Limits
from qianshu.core.errors import Conflict, InvalidInput, QianshuError, QueryTimedOut
from qianshu.delivery.sandbox import SandboxAnswer, SandboxPolicy, query_record, run_query
from qianshu.delivery.sandbox_privacy import PrivacyBudget
from tests.delivery.sandbox_data import SMALL_COUNTY, people_table

POLICY = SandboxPolicy()


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real Parquet files with personal data: 2,000 residents."""
    path = tmp_path_factory.mktemp("sandbox") / "people.parquet"
    pq.write_table(people_table(), path)
    return path


@pytest.fixture(scope="module")
def other_product(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another product's table, on the same disk: the sandbox must not reach it."""
    path = tmp_path_factory.mktemp("other") / "salaries.parquet"
    pq.write_table(pa.table({"employee": ["甲", "乙"], "salary": [1.0, 2.0]}), path)
    return path


def ask(people: Path, sql: str, policy: SandboxPolicy = POLICY, **kwargs: Any) -> SandboxAnswer:
    return run_query(sql, {"people": [people]}, policy, **kwargs)


def bare(people: Path, sql: str) -> list[tuple[Any, ...]]:
    """The same query in a plain DuckDB connection, the reference the sandbox must match."""
    with duckdb.connect() as connection:
        connection.execute(f"CREATE VIEW people AS SELECT * FROM read_parquet('{people}')")
        return connection.execute(sql).fetchall()


def same(row: tuple[Any, ...], want: tuple[Any, ...]) -> bool:
    return len(row) == len(want) and all(
        a == pytest.approx(b, rel=1e-9) if isinstance(b, float) else a == b for a, b in zip(row, want, strict=True))


def values_of(people: Path) -> list[str]:
    """Values of the personal columns that no answer or message may show."""
    table = pq.read_table(people).to_pydict()
    return [*table["resident_id"][:50], *table["name"][:50], *(f"{v}" for v in table["income"][:50])]


def refusal(people: Path, sql: str, policy: SandboxPolicy = POLICY) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        ask(people, sql, policy)
    error = caught.value
    assert error.code == "sandbox_refused"
    assert error.field == "sql"
    rendered = error.render("zh") + error.render("en")
    assert not any(value in rendered for value in values_of(people))
    return error


# -- Legitimate aggregates: the sandbox gives DuckDB's own answers --------------------------------------

@pytest.mark.parametrize("sql", [
    "SELECT county, count(*) AS n, sum(income) AS total, avg(age) AS mean_age FROM people "
    "GROUP BY county ORDER BY county",
    "SELECT count(*), avg(income), stddev(income) FROM people WHERE age >= 40",
    "SELECT gender, county_code, count(*) FROM people WHERE income > 20000 GROUP BY ALL ORDER BY 1, 2",
    "SELECT birth_year // 10 * 10 AS decade, count(DISTINCT resident_id) AS people, min(age), max(age) "
    "FROM people GROUP BY decade ORDER BY decade",
    "SELECT county, median(age), round(avg(income), 2) FROM people GROUP BY 1 HAVING count(*) > 100 ORDER BY 1",
    "SELECT county, count(*) FILTER (WHERE gender = '女') AS women FROM people GROUP BY county "
    "ORDER BY women DESC LIMIT 2",
    "SELECT p.county AS c, p.gender, count(*), avg(p.income) FROM people AS p WHERE p.age > 30 GROUP BY 1, 2 "
    "ORDER BY 1, 2",
])
def test_legitimate_aggregates_match_bare_duckdb(people: Path, sql: str) -> None:
    answer = ask(people, sql)
    expected = bare(people, sql.replace(" LIMIT 2", ""))
    # Every row shown is DuckDB's own, in DuckDB's order; the rows left out are the small county's
    # and the few hidden with it so that no total minus the shown rows gives them away.
    positions = []
    for row in answer.rows:
        matches = [i for i, want in enumerate(expected) if same(row, want)]
        assert matches, row
        positions.append(matches[0])
    assert positions == sorted(positions)
    assert len(answer.rows) >= min(2, len(expected))
    missing = [want for i, want in enumerate(expected) if i not in positions]
    assert len(missing) <= 4
    assert answer.suppressed_groups >= (1 if "county" in sql.split("FROM")[0] else 0)


def test_answers_without_small_groups_are_exactly_duckdbs(people: Path) -> None:
    for sql in ["SELECT count(*), sum(income), avg(age), stddev(income) FROM people",
                "SELECT gender, count(*), sum(income) FROM people GROUP BY gender ORDER BY gender",
                "SELECT age >= 60 AS elderly, avg(income) FROM people WHERE birth_year > 1955 GROUP BY 1 ORDER BY 1"]:
        answer = ask(people, sql)
        assert answer.suppressed_groups == 0
        expected = bare(people, sql)
        assert len(answer.rows) == len(expected)
        assert all(map(same, answer.rows, expected))


def test_types_dates_and_buckets_are_answered(people: Path) -> None:
    for sql in ["SELECT sum(CAST(income AS DECIMAL(12, 2))), avg(age::DOUBLE) FROM people",
                "SELECT date_trunc('year', make_date(birth_year, 6, 1)) AS y, count(*) FROM people "
                "WHERE date_diff('day', make_date(birth_year, 1, 1), DATE '2026-01-01') > 3650 "
                "AND make_date(birth_year, 1, 1) + INTERVAL 1 DAY > DATE '1960-01-01' GROUP BY y ORDER BY y",
                "SELECT CASE WHEN age < 40 THEN 'young' ELSE 'old' END AS band, count(*), round(avg(income), 2) "
                "FROM people GROUP BY band ORDER BY band",
                "SELECT floor(income / 10000) * 10000 AS bracket, count(*) FROM people "
                "GROUP BY bracket ORDER BY bracket"]:
        answer = ask(people, sql)
        expected = bare(people, sql)
        assert answer.rows
        shown = iter(expected)
        assert all(any(same(row, want) for want in shown) for row in answer.rows), sql


def test_a_legitimate_answer_names_its_columns(people: Path) -> None:
    answer = ask(people, "SELECT county AS 区县, count(*) AS 人数 FROM people GROUP BY 1")
    assert answer.columns == ("区县", "人数")
    # The county of three residents, and the next smallest: the total minus the others would show it.
    assert answer.suppressed_groups == 2
    assert len(answer.rows) == 4


# -- Row-level output ------------------------------------------------------------------------------------

@pytest.mark.parametrize("sql", ["SELECT * FROM people", "FROM people", "SELECT people.* FROM people",
                                 "SELECT COLUMNS('.*') FROM people"])
def test_select_star_is_refused(people: Path, sql: str) -> None:
    refusal(people, sql)


@pytest.mark.parametrize("sql", [
    "SELECT income FROM people",
    "SELECT age, income FROM people WHERE row_no = 5",
    "SELECT county, income FROM people GROUP BY county",
    "SELECT DISTINCT county FROM people",
    "SELECT income + 0 FROM people LIMIT 1",
])
def test_row_level_output_is_refused(people: Path, sql: str) -> None:
    refusal(people, sql)


def test_limit_1_over_a_unique_key_shows_no_row(people: Path) -> None:
    refusal(people, "SELECT resident_id, count(*) FROM people GROUP BY resident_id LIMIT 1")
    # A numeric unique key may be grouped by, but each group has one row: all are suppressed.
    answer = ask(people, "SELECT row_no, count(*), sum(income) FROM people GROUP BY row_no ORDER BY row_no LIMIT 1")
    assert answer.rows == []
    assert answer.suppressed_groups == 2000


@pytest.mark.parametrize("sql", [
    "SELECT string_agg(name, ',') FROM people",
    "SELECT county, string_agg(resident_id) FROM people GROUP BY county",
    "SELECT list(name) FROM people",
    "SELECT array_agg(income) FROM people",
    "SELECT histogram(income) FROM people",
    "SELECT group_concat(name) FROM people",
    "SELECT county, arg_max(name, income) FROM people GROUP BY county",
    "SELECT county, arg_min(resident_id, age) FROM people GROUP BY county",
    "SELECT max_by(name, income) FROM people",
    "SELECT any_value(name) FROM people",
    "SELECT first(income) FROM people",
    "SELECT last(resident_id) FROM people",
    "SELECT mode(income) FROM people",
])
def test_aggregates_that_carry_rows_are_refused(people: Path, sql: str) -> None:
    refusal(people, sql)


@pytest.mark.parametrize("sql", [
    "SELECT county, max(income) FROM people GROUP BY county",
    "SELECT min(resident_id) FROM people",
    "SELECT county, max(name) FROM people GROUP BY county",
    "SELECT median(income) FROM people",
    "SELECT quantile_cont(income, 0.99) FROM people",
    "SELECT max(income * 1) FROM people WHERE county_code = '522301'",
])
def test_order_statistics_over_near_unique_columns_are_refused(people: Path, sql: str) -> None:
    refusal(people, sql)


def test_min_and_max_in_a_small_group_are_suppressed(people: Path) -> None:
    answer = ask(people, "SELECT county_code, max(age), min(age) FROM people GROUP BY county_code")
    assert SMALL_COUNTY[0] not in {row[0] for row in answer.rows}
    assert len(answer.rows) == 4
    whole = ask(people, f"SELECT max(age) FROM people WHERE county_code = '{SMALL_COUNTY[0]}'")
    assert whole.rows == []
    assert whole.suppressed_groups == 1


def test_the_seller_can_declare_a_column_identifying(people: Path) -> None:
    policy = SandboxPolicy(identifying=frozenset({"birth_year"}))
    error = refusal(people, "SELECT birth_year, count(*) FROM people GROUP BY 1", policy)
    assert "birth_year" in error.render("zh")
    assert ask(people, "SELECT count(DISTINCT birth_year) FROM people", policy).rows == bare(
        people, "SELECT count(DISTINCT birth_year) FROM people")


# -- Files, settings, statements, other tables -----------------------------------------------------------

@pytest.mark.parametrize("sql", [
    "SELECT count(*) FROM read_csv('/etc/passwd')",
    "SELECT count(*) FROM read_csv_auto('/etc/passwd')",
    "SELECT count(*) FROM '/etc/passwd'",
    "SELECT count(*) FROM read_text('/etc/passwd')",
    "SELECT count(*) FROM read_blob('/etc/hostname')",
    "SELECT count(*) FROM glob('/etc/*')",
    "SELECT count(*) FROM read_json('/etc/os-release')",
    "SELECT sum(length(content)) FROM read_text('/etc/passwd')",
    "SELECT count(*) FROM duckdb_settings()",
    "SELECT count(*) FROM range(10)",
    "SELECT count(*), getenv('HOME') FROM people",
    "SELECT count(*), current_setting('memory_limit') FROM people",
    "COPY people TO '/tmp/leak.csv'",
    "COPY (SELECT * FROM people) TO '/tmp/leak.parquet' (FORMAT parquet)",
    "EXPORT DATABASE '/tmp/leak'",
    "ATTACH '/tmp/other.duckdb' AS other",
    "DETACH other",
    "INSTALL httpfs",
    "LOAD httpfs",
    "FORCE INSTALL sqlite",
    "CREATE TABLE copy AS SELECT * FROM people",
    "INSERT INTO people SELECT * FROM people",
    "CALL pragma_version()",
])
def test_reading_files_and_other_statements_are_refused(people: Path, sql: str) -> None:
    refusal(people, sql)
    # The places the COPY statements name: nothing was written there.
    assert not Path("/tmp/leak.csv").exists()  # noqa: S108
    assert not Path("/tmp/leak.parquet").exists()  # noqa: S108


def test_the_product_files_themselves_cannot_be_read_row_by_row(people: Path) -> None:
    refusal(people, f"SELECT count(*) FROM read_parquet('{people}')")
    refusal(people, f"SELECT count(*) FROM '{people}'")


@pytest.mark.parametrize("sql", ["SET threads = 8", "SET enable_external_access = true", "RESET memory_limit",
                                 "PRAGMA disable_checkpoint_on_shutdown", "PRAGMA table_info('people')",
                                 "SET GLOBAL lock_configuration = false", "SELECT set_config('threads', '8', false)"])
def test_changing_settings_is_refused(people: Path, sql: str) -> None:
    refusal(people, sql)


@pytest.mark.parametrize("sql", ["SELECT count(*) FROM people; SELECT count(*) FROM people",
                                 "SELECT count(*) FROM people; COPY people TO '/tmp/leak.csv'",
                                 "SELECT count(*) FROM people UNION ALL SELECT count(*) FROM people"])
def test_several_statements_are_refused(people: Path, sql: str) -> None:
    refusal(people, sql)


@pytest.mark.parametrize("sql", [
    "SELECT count(*) FROM salaries",
    "SELECT count(*) FROM information_schema.tables",
    "SELECT count(*) FROM duckdb_tables",
    "SELECT count(*) FROM sqlite_master",
    "SELECT count(*) FROM other.main.people",
    "SELECT count(*) FROM people, salaries",
    "SELECT count(*) FROM people JOIN salaries ON true",
    "SELECT count(*) FROM (SELECT * FROM people) AS p",
    "WITH p AS (SELECT * FROM people) SELECT count(*) FROM p",
    "SELECT count(*) FROM people WHERE age IN (SELECT age FROM people)",
    "SELECT sum(income) OVER () FROM people",
    "SELECT count(*) FROM people TABLESAMPLE 1 ROWS",
])
def test_other_tables_and_other_shapes_are_refused(people: Path, other_product: Path, sql: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        run_query(sql, {"people": [people]}, POLICY)
    assert caught.value.code == "sandbox_refused"


def test_a_table_of_another_product_is_not_on_the_connection(people: Path, other_product: Path) -> None:
    error = refusal(people, "SELECT count(*) FROM salaries")
    assert "salaries" in error.render("en")
    # Its own product answers it: the refusal is about the product, not the name.
    assert run_query("SELECT count(*) FROM salaries", {"salaries": [other_product]},
                     SandboxPolicy(k=2)).rows == [(2,)]


# -- Time limit ----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_query_past_the_time_limit_is_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "big.parquet"
    duckdb.sql(f"COPY (SELECT i AS row_no, i % 97 AS grp, 'x' || i AS label FROM range(3000000) t(i)) "
               f"TO '{path}' (FORMAT parquet)")
    policy = SandboxPolicy(limits=Limits(memory_limit="512MB", threads=1, query_seconds=0.3))
    # A light query first (the table's profile has its own limit); then one that cannot finish.
    assert run_query("SELECT count(*) FROM big", {"big": [path]}, policy).rows == [(3000000,)]
    heavy = "SELECT grp, count(DISTINCT label), count(DISTINCT row_no) FROM big GROUP BY grp"
    started = time.monotonic()
    with pytest.raises(QueryTimedOut) as caught:
        run_query(heavy, {"big": [path]}, policy)
    assert time.monotonic() - started < 5
    assert "0.3" in caught.value.render("en")
    assert "0.3" in caught.value.render("zh")
    record = query_record(heavy, ["big"], caught.value, policy)
    assert record["outcome"] == "timed_out"
    assert record["code"] == "query_timeout"
    # The same query within a longer limit is answered.
    relaxed = SandboxPolicy(limits=Limits(memory_limit="512MB", threads=1, query_seconds=120))
    assert len(run_query(heavy, {"big": [path]}, relaxed).rows) == 97


# -- k-suppression -------------------------------------------------------------------------------------

def test_groups_smaller_than_k_are_suppressed_whatever_the_query_counts(people: Path) -> None:
    for sql in ["SELECT county, sum(income) FROM people GROUP BY county",
                "SELECT county, count(*) * 0 + 100 AS n, avg(income) FROM people GROUP BY county",
                "SELECT county, count(*) FILTER (WHERE age > 0) AS n FROM people GROUP BY county HAVING n >= 0"]:
        answer = ask(people, sql)
        assert SMALL_COUNTY[1] not in {row[0] for row in answer.rows}
        assert len(answer.rows) == 4
        assert answer.suppressed_groups == 2


def test_k_is_set_per_product(people: Path) -> None:
    sql = "SELECT county, count(*) FROM people GROUP BY county ORDER BY county"
    assert (SMALL_COUNTY[1], 3) in ask(people, sql, SandboxPolicy(k=3)).rows
    assert (SMALL_COUNTY[1], 3) not in ask(people, sql, SandboxPolicy(k=4)).rows
    big = ask(people, sql, SandboxPolicy(k=401))
    assert all(n >= 401 for _, n in big.rows)


def test_a_where_that_leaves_fewer_than_k_rows_is_suppressed(people: Path) -> None:
    answer = ask(people, "SELECT count(*), sum(income) FROM people WHERE row_no < 9")
    assert answer.rows == []
    assert answer.suppressed_groups == 1
    assert ask(people, "SELECT count(*) FROM people WHERE row_no < 10").rows == [(10,)]


# -- Differencing attacks ------------------------------------------------------------------------------

def _income(people: Path, row_no: int) -> float:
    return float(bare(people, f"SELECT income FROM people WHERE row_no = {row_no}")[0][0])


def test_all_minus_all_but_one_isolates_no_one(people: Path) -> None:
    county = bare(people, "SELECT county FROM people WHERE row_no = 1234")[0][0]
    total = ask(people, "SELECT sum(income) FROM people").rows
    assert total
    assert total[0][0] == pytest.approx(bare(people, "SELECT sum(income) FROM people")[0][0])
    for sql in ["SELECT sum(income) FROM people WHERE row_no <> 1234",
                "SELECT sum(income) FROM people WHERE NOT (row_no = 1234)",
                f"SELECT sum(income) FROM people WHERE income <> {_income(people, 1234)}",
                "SELECT sum(income) FROM people WHERE row_no < 1234 OR row_no > 1234",
                "SELECT county, sum(income) FROM people WHERE row_no <> 1234 GROUP BY county"]:
        answer = ask(people, sql)
        shown = {row[0] for row in answer.rows}
        # The group the person belongs to is not shown: the difference cannot be taken.
        assert answer.rows == [] or county not in shown, sql
    refusal(people, "SELECT sum(income) FROM people WHERE resident_id <> 'x'")
    refusal(people, "SELECT sum(income) FROM people WHERE name <> 'x'")
    refusal(people, "SELECT sum(p.income) FROM people AS p WHERE p.resident_id <> 'x'")


def test_a_group_of_one_cannot_be_subtracted_from_the_total(people: Path) -> None:
    answer = ask(people, "SELECT row_no = 1234 AS target, sum(income) FROM people GROUP BY target")
    assert answer.rows == []
    assert answer.suppressed_groups == 2


def test_a_cell_of_one_cannot_be_subtracted_from_its_margin(people: Path) -> None:
    margin = dict(ask(people, "SELECT county, sum(income) FROM people GROUP BY county").rows)
    cells = ask(people, "SELECT county, row_no = 1234 AS target, sum(income) FROM people GROUP BY 1, 2").rows
    person_county = bare(people, "SELECT county FROM people WHERE row_no = 1234")[0][0]
    assert person_county in margin
    assert [row for row in cells if row[0] == person_county] == []
    assert {row[0] for row in cells} < set(margin)


@pytest.mark.slow
def test_differential_privacy_noises_the_difference(people: Path) -> None:
    policy = SandboxPolicy(epsilon=1.0, bounds={"income": (0.0, 100_000.0)})
    budget = PrivacyBudget(total=100.0)
    differences = []
    for _ in range(30):
        everyone = ask(people, "SELECT sum(income) FROM people", policy, budget=budget)
        assert everyone.budget is not None
        budget = everyone.budget
        but_one = ask(people, "SELECT sum(income) FROM people WHERE row_no <> 1234", policy, budget=budget)
        assert but_one.budget is not None
        budget = but_one.budget
        differences.append(everyone.rows[0][0] - but_one.rows[0][0])
    # Two measurements a query (the group count and the sum): Laplace scale 100000 / 0.5 per sum.
    spread = statistics.pstdev(differences)
    assert spread > 50_000  # the person's income (tens of thousands) is buried in the noise
    assert budget.spent == pytest.approx(60.0)
    assert everyone.epsilon == pytest.approx(1.0)
    assert everyone.delta == 0  # no GROUP BY: no key is released


def test_the_privacy_budget_is_charged_and_refuses_when_spent(people: Path) -> None:
    policy = SandboxPolicy(epsilon=0.4, bounds={"income": (0.0, 100_000.0)})
    answer = ask(people, "SELECT county, count(*), avg(income) FROM people GROUP BY county", policy,
                 budget=PrivacyBudget(total=1.0))
    assert answer.budget is not None
    assert answer.budget.spent == pytest.approx(0.4)
    assert answer.epsilon == pytest.approx(0.4)
    assert answer.delta == pytest.approx(1e-6)
    truth = dict(bare(people, "SELECT county, count(*) FROM people GROUP BY county"))
    for county, count, average in answer.rows:
        assert abs(count - truth[county]) < 200
        assert 0 <= average <= 100_000
    with pytest.raises(Conflict) as caught:
        ask(people, "SELECT count(*) FROM people", policy, budget=PrivacyBudget(total=1.0, spent=0.7))
    assert caught.value.code == "privacy_budget_exhausted"
    assert "0.3" in caught.value.render("zh")
    assert "0.4" in caught.value.render("en")


def test_differential_privacy_shows_no_group_of_one(people: Path) -> None:
    policy = SandboxPolicy(epsilon=1.0, k=2, bounds={"income": (0.0, 100_000.0)})
    answer = ask(people, "SELECT row_no, count(*), sum(income) FROM people GROUP BY row_no", policy,
                 budget=PrivacyBudget(total=1.0))
    assert answer.rows == []
    assert answer.suppressed_groups == 2000


@pytest.mark.parametrize("sql", ["SELECT max(age) FROM people", "SELECT sum(age) FROM people",
                                 "SELECT county, count(*) FROM people GROUP BY county HAVING count(*) > 5",
                                 "SELECT county, count(*) AS n FROM people GROUP BY county ORDER BY n DESC"])
def test_differential_privacy_refuses_what_it_cannot_noise(people: Path, sql: str) -> None:
    policy = SandboxPolicy(epsilon=0.5, bounds={"income": (0.0, 100_000.0)})
    with pytest.raises(InvalidInput):
        ask(people, sql, policy, budget=PrivacyBudget(total=5.0))


@pytest.mark.slow
def test_noisy_counts_have_the_documented_spread(people: Path) -> None:
    policy = SandboxPolicy(epsilon=2.0, k=1)
    budget = PrivacyBudget(total=math.inf)
    answers = [ask(people, "SELECT count(*) FROM people", policy, budget=budget).rows[0][0] for _ in range(80)]
    # One count and the group count: epsilon 1 each, discrete Laplace of scale 1 (standard deviation ~1.4).
    assert 0.8 < statistics.pstdev(answers) < 2.2
    assert abs(statistics.mean(answers) - 2000) < 0.5


# -- Messages and the record --------------------------------------------------------------------------

def test_no_error_message_leaks_a_value(people: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        ask(people, "SELECT sum(CAST(county AS INTEGER)) FROM people")
    error = caught.value
    assert error.code == "sandbox_query_failed"
    for lang in ("zh", "en"):
        text = error.render(lang)
        assert not any(county in text for county in ("南明区", "云岩区", "花溪区", "红花岗区", "西秀区", "兴义市"))
    assert error.render("zh") != error.render("en")
    with pytest.raises(InvalidInput) as caught:
        ask(people, "SELECT county, count(*) FROM people GROUP BY county HAVING sum(CAST(gender AS INT)) > 0")
    assert "男" not in caught.value.bilingual()
    assert "女" not in caught.value.bilingual()


def test_refusals_are_bilingual_and_name_what_is_wrong(people: Path) -> None:
    error = refusal(people, "SELECT * FROM people")
    assert error.render("zh") != error.render("en")
    assert "SELECT *" in error.render("zh")
    error = refusal(people, "SELECT count(*) FROM read_csv('/etc/passwd')")
    assert "读取文件" in error.render("zh")
    error = refusal(people, "SELECT name, count(*) FROM people GROUP BY name")
    assert "name" in error.render("zh")  # the column as typed, not a translation of the word


def test_each_query_gives_a_record_for_the_seller(people: Path) -> None:
    sql = "SELECT county, count(*) FROM people GROUP BY county"
    answer = ask(people, sql)
    record = query_record(sql, ["people"], answer, POLICY)
    assert record["outcome"] == "answered"
    assert record["groups_shown"] == 4
    assert record["groups_suppressed"] == 2
    assert record["sql"] == sql
    assert len(record["sql_sha256"]) == 64
    assert record["k"] == 10
    try:
        ask(people, "SELECT * FROM people")
    except QianshuError as exc:
        refused = query_record("SELECT * FROM people", ["people"], exc, POLICY)
    assert refused["outcome"] == "refused"
    assert refused["code"] == "sandbox_refused"
    assert not any(value in str(record) + str(refused) for value in values_of(people))


# -- One person's value picked out inside a large group ---------------------------------------------------

@pytest.mark.parametrize("sql", [
    "SELECT sum(CASE WHEN row_no = 1234 THEN income ELSE 0 END) FROM people",
    "SELECT county, sum(income * (row_no = 1234)::INTEGER) FROM people GROUP BY county",
    "SELECT avg(CASE WHEN row_no = 1234 THEN income ELSE 5 END) FROM people",
    "SELECT sum(income * floor(1 / (abs(row_no - 1234) + 1))) FROM people",
    "SELECT sum(if(row_no = 1234, income, 0)) FROM people",
    "SELECT county, count(*) FROM people GROUP BY county HAVING sum(income) FILTER (WHERE row_no = 1234) > 9",
    "SELECT county, count(*) AS n FROM people GROUP BY county ORDER BY sum(income) FILTER (WHERE row_no = 1234)",
])
def test_a_condition_inside_an_aggregate_is_refused(people: Path, sql: str) -> None:
    refusal(people, sql)


def test_a_filter_is_held_to_k_like_a_where(people: Path) -> None:
    person = ask(people, "SELECT sum(income) FILTER (WHERE row_no = 1234) FROM people")
    assert person.rows == []
    but_one = ask(people, "SELECT county, sum(income) FILTER (WHERE row_no <> 1234) AS s FROM people GROUP BY county")
    county = bare(people, "SELECT county FROM people WHERE row_no = 1234")[0][0]
    assert county not in {row[0] for row in but_one.rows}
    # A FILTER that keeps or leaves out many rows is answered, and equals DuckDB's.
    sql = ("SELECT gender, count(*) FILTER (WHERE age > 60 OR county = '南明区') AS n, "
           "avg(income) FILTER (WHERE age > 60 OR county = '南明区') AS mean FROM people GROUP BY gender ORDER BY 1")
    answer = ask(people, sql)
    expected = bare(people, sql)
    assert len(answer.rows) == len(expected) == 2
    assert all(map(same, answer.rows, expected))


def test_an_aggregate_over_a_few_values_is_suppressed(tmp_path: Path, people: Path) -> None:
    # A column empty but for one person: the group is large, the values are not.
    table = pq.read_table(people)
    spouse = [1000.0 if i == 1234 else None for i in range(table.num_rows)]
    path = tmp_path / "people.parquet"
    pq.write_table(table.append_column("spouse_income", pa.array(spouse, pa.float64())), path)
    answer = run_query("SELECT county, avg(spouse_income), count(*) FROM people GROUP BY county",
                       {"people": [path]}, POLICY)
    # Every county has fewer than k values of it (one has one, the others none): none is shown.
    assert answer.rows == []
    assert answer.suppressed_groups == 6
    assert run_query("SELECT county, avg(income), count(*) FROM people GROUP BY county",
                     {"people": [path]}, POLICY).rows


def test_concurrent_queries_over_more_products_than_databases_kept(people: Path, tmp_path: Path) -> None:
    # Six products (copies of the table, each its own files) queried from eight threads at once:
    # at most four databases are kept, so some close while others' queries run on them.
    products = []
    for index in range(6):
        path = tmp_path / f"people{index}.parquet"
        path.write_bytes(people.read_bytes())
        products.append(path)
    sql = "SELECT gender, count(*), sum(income) FROM people WHERE age > 30 GROUP BY gender ORDER BY gender"
    expected = bare(people, sql)

    def one(index: int) -> list[tuple[Any, ...]]:
        return run_query(sql, {"people": [products[index % 6]]}, POLICY).rows

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(one, range(24)))
    for rows in answers:
        assert len(rows) == len(expected)
        assert all(map(same, rows, expected))
