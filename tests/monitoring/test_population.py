"""The synthetic population: census sizes, valid identities, consistent feeds, reproducible."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from qianshu.cli import app
from qianshu.core.identifiers import is_valid_resident_id
from qianshu.monitoring.population import (
    CENSUS_HOUSEHOLDS,
    CENSUS_RESIDENTS,
    FEEDS,
    county_residents,
    generate,
    prefecture_residents,
)

NANMING = "520102"


@pytest.fixture(scope="module")
def feeds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("population")
    generate(out, scope=[NANMING, "520402"], scale=0.05, seed=7, year=2025)
    return out


def _sql(feeds: Path, query: str) -> list[tuple[object, ...]]:
    con = duckdb.connect()
    for feed in FEEDS:
        con.execute(f"CREATE VIEW {feed} AS SELECT * FROM read_parquet('{feeds / feed}.parquet')")
    return con.execute(query).fetchall()


def test_counties_add_up_to_the_census_of_their_prefecture_and_the_province() -> None:
    counties = county_residents()
    assert len(counties) == 88
    assert sum(counties.values()) == sum(prefecture_residents().values())
    assert abs(sum(counties.values()) - CENSUS_RESIDENTS) < 100  # the bulletin rounds the province to hundreds
    for prefecture, residents in prefecture_residents().items():
        assert sum(n for code, n in counties.items() if code[:4] == prefecture[:4]) == residents


def test_every_resident_id_is_valid_unique_and_agrees_with_birth_date_and_sex(feeds: Path) -> None:
    rows = _sql(feeds, "SELECT resident_id, birth_date, sex FROM household_registration")
    assert len(rows) == len({r[0] for r in rows}) > 30_000
    assert all(is_valid_resident_id(str(r[0])) for r in rows)
    assert all(str(r[0])[6:14] == r[1].strftime("%Y%m%d") for r in rows)  # type: ignore[attr-defined]
    assert all(int(str(r[0])[16]) % 2 == (1 if r[2] == "1" else 0) for r in rows)
    assert {str(r[0])[:6] for r in rows} == {NANMING, "520402"}


def test_households_and_ages_look_like_the_2020_census(feeds: Path) -> None:
    [(residents, households)] = _sql(feeds, "SELECT count(*), count(DISTINCT household_id) FROM household_registration")
    assert abs(residents / households - CENSUS_RESIDENTS / CENSUS_HOUSEHOLDS) < 0.05
    [(young, old)] = _sql(feeds, "SELECT avg((date '2025-01-01' - birth_date < 15 * 365.25)::int), avg(("
                                 "date '2025-01-01' - birth_date >= 60 * 365.25)::int) FROM household_registration")
    assert abs(float(young) - 0.2397) < 0.02
    assert abs(float(old) - 0.1538) < 0.02
    [(heads,)] = _sql(feeds, "SELECT count(*) FROM household_registration WHERE relation = 'head'")
    assert heads == households
    [(villages,)] = _sql(feeds, "SELECT count(DISTINCT division_code) FROM household_registration "
                                "WHERE length(division_code) = 12 AND division_code LIKE '5201020%'")
    assert villages > 20


def test_every_feed_refers_to_residents_and_households_that_exist(feeds: Path) -> None:
    for feed in FEEDS[1:]:
        columns = pq.read_schema(feeds / f"{feed}.parquet").names
        key = "resident_id" if "resident_id" in columns else "household_id"
        [(rows, dangling)] = _sql(feeds, f"SELECT count(*), count(*) FILTER (WHERE {key} NOT IN "
                                         f"(SELECT {key} FROM household_registration)) FROM {feed}")
        assert dangling == 0, feed
        assert rows > 0, feed


def test_a_county_is_the_same_alone_or_with_others_and_with_the_same_seed(feeds: Path, tmp_path: Path) -> None:
    generate(tmp_path / "alone", scope=[NANMING], scale=0.05, seed=7, year=2025)
    generate(tmp_path / "other", scope=[NANMING], scale=0.05, seed=8, year=2025)
    query = "SELECT * FROM read_parquet('{}') WHERE resident_id LIKE '520102%' ORDER BY resident_id"
    con = duckdb.connect()
    together = con.execute(query.format(feeds / "household_registration.parquet")).fetchall()
    alone = con.execute(query.format(tmp_path / "alone" / "household_registration.parquet")).fetchall()
    other = con.execute(query.format(tmp_path / "other" / "household_registration.parquet")).fetchall()
    assert together == alone
    assert together != other


def test_the_command_writes_the_feeds_and_refuses_unknown_divisions_in_both_languages(tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["monitoring", "generate", str(tmp_path / "f"), "--division", "520423",
                               "--scale", "0.01", "--json"])
    assert done.exit_code == 0, done.output
    assert sorted(p.stem for p in (tmp_path / "f").glob("*.parquet")) == sorted(FEEDS)
    refused = runner.invoke(app, ["monitoring", "generate", str(tmp_path / "g"), "--division", "529999"])
    assert refused.exit_code == 1
    assert "未知的区划代码" in refused.output
    assert "Unknown division code: 529999" in refused.output
    assert not (tmp_path / "g").exists() or not any((tmp_path / "g").iterdir())
    assert runner.invoke(app, ["monitoring", "generate", str(tmp_path / "h"), "--scale", "0"]).exit_code == 1
