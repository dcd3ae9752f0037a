"""The bounded analytics facility: time limit, file access, locked configuration, settings."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from qianshu.core.analytics import Limits, connect, open_analytics
from qianshu.core.errors import QueryTimedOut
from qianshu.core.settings import Settings

ENDLESS = "SELECT count(*) FROM range(100000000000) a, range(1000) b"


def test_a_query_over_the_time_limit_is_stopped_with_a_bilingual_error() -> None:
    con = connect(Limits("256MB", 1, query_seconds=0.5))
    started = time.monotonic()
    with pytest.raises(QueryTimedOut) as caught:
        con.execute(ENDLESS).fetchall()
    assert time.monotonic() - started < 10
    assert caught.value.code == "query_timeout"
    assert caught.value.status == 503
    assert caught.value.render("en") == ("The query was stopped after 0.5 seconds, "
                                         "the time limit for analytical queries.")
    assert caught.value.render("zh") == "查询已在 0.5 秒后停止：这是分析查询的时间上限。"
    # the connection is still usable, and a quick query is not stopped
    assert con.execute("SELECT 42").fetchone() == (42,)
    time.sleep(0.6)  # a timer left running would interrupt the next query
    assert con.execute("SELECT 43").fetchall() == [(43,)]


def test_one_watchdog_stops_each_query_at_its_own_limit_across_threads() -> None:
    """The time limits share one watchdog thread: a short limit asked after a long one still fires
    first, a query on another connection is not stopped by it, and thousands of quick calls leave
    no interrupt behind."""
    import threading

    patient = connect(Limits("256MB", 1, query_seconds=30))
    hasty = connect(Limits("256MB", 1, query_seconds=0.3))
    outcome: dict[str, object] = {}

    def run_patient() -> None:
        # Not endless: it must still be running when the hasty query is stopped, and then finish.
        outcome["patient"] = patient.execute("SELECT count(*) FROM range(300000000)").fetchone()

    thread = threading.Thread(target=run_patient)
    thread.start()
    started = time.monotonic()
    with pytest.raises(QueryTimedOut):
        hasty.execute(ENDLESS).fetchall()
    assert time.monotonic() - started < 10
    thread.join(60)
    assert outcome["patient"] == (300000000,)
    for number in range(2000):
        assert hasty.execute("SELECT ?", [number]).fetchone() == (number,)
    time.sleep(0.4)
    assert hasty.execute("SELECT 1").fetchall() == [(1,)]
    cursor = patient.cursor(0.3)  # a cursor takes its own limit
    with pytest.raises(QueryTimedOut):
        cursor.execute(ENDLESS).fetchall()
    assert patient.execute("SELECT 2").fetchone() == (2,)


def test_reading_an_arbitrary_file_is_refused(tmp_path: Path) -> None:
    escape = tmp_path.parent / f"{tmp_path.name}-escape.csv"
    (tmp_path / "allowed.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "secret.csv").write_text("x\n1\n", encoding="utf-8")
    con = connect(Limits(), readable=[tmp_path / "allowed.csv"])
    assert con.execute(f"SELECT * FROM read_csv('{tmp_path / 'allowed.csv'}')").fetchall() == [(1, 2)]
    for query in ("SELECT * FROM read_csv('/etc/passwd')",
                  f"SELECT * FROM read_csv('{tmp_path / 'other' / 'secret.csv'}')",
                  f"SELECT * FROM read_csv('{tmp_path}/../{tmp_path.name}/other/secret.csv')",
                  f"COPY (SELECT 1) TO '{escape}'"):
        with pytest.raises(duckdb.PermissionException):
            con.execute(query)
    assert not escape.exists()


def test_a_folder_on_the_allow_list_is_readable_and_writable(tmp_path: Path) -> None:
    con = connect(Limits(), readable=[tmp_path])
    out = tmp_path / "out.parquet"
    con.execute(f"COPY (SELECT 7 AS x) TO '{out}' (FORMAT parquet)")
    assert con.execute(f"SELECT x FROM read_parquet('{out}')").fetchall() == [(7,)]


def test_registered_arrow_data_is_readable_without_file_access() -> None:
    con = connect(Limits())
    con.register("numbers", pa.table({"x": [1, 2, 3]}))
    assert con.execute("SELECT sum(x) FROM numbers").fetchone() == (6,)
    unregistered = pa.table({"x": [1]})  # noqa: F841 - a Python variable DuckDB could scan by name
    with pytest.raises(duckdb.CatalogException):
        con.execute("SELECT * FROM unregistered")


def test_configuration_is_locked_and_extensions_are_not_loaded() -> None:
    con = connect(Limits("300MB", 1))
    with pytest.raises(duckdb.InvalidInputException, match="locked"):
        con.execute("SET memory_limit = '100GB'")
    with pytest.raises(duckdb.InvalidInputException, match="locked"):
        con.execute("SET enable_external_access = true")
    settings = dict(con.execute("SELECT name, value FROM duckdb_settings() WHERE name IN ('threads', "
                                "'autoload_known_extensions', 'autoinstall_known_extensions', "
                                "'enable_external_access', 'lock_configuration')").fetchall())
    assert settings == {"threads": "1", "autoload_known_extensions": "false",
                        "autoinstall_known_extensions": "false", "enable_external_access": "false",
                        "lock_configuration": "true"}
    with pytest.raises(duckdb.Error):
        con.execute("INSTALL spatial")


def test_limits_come_from_the_settings(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, analytics_memory_limit="512MB", analytics_threads=3,
                        analytics_query_seconds=120, analytics_interactive_seconds=2)
    assert Limits.from_settings(settings) == Limits("512MB", 3, 120)
    assert Limits.from_settings(settings, interactive=True) == Limits("256MB", 1, 2)
    con = open_analytics(settings)
    assert con.execute("SELECT current_setting('threads')").fetchone() == (3,)


def test_every_duckdb_connection_comes_from_the_facility() -> None:
    src = Path(__file__).resolve().parents[2] / "src" / "qianshu"
    opened = [str(path.relative_to(src)) for path in src.rglob("*.py")
              if "duckdb.connect(" in path.read_text(encoding="utf-8")]
    assert opened == ["core/analytics.py"]


def test_a_path_with_a_quote_is_allowed_exactly(tmp_path: Path) -> None:
    odd = tmp_path / "it's; SET enable_external_access = true; --.csv"
    odd.write_text("a\n1\n", encoding="utf-8")
    con = connect(Limits(), readable=[odd])
    quoted = str(odd).replace("'", "''")
    assert con.execute(f"SELECT * FROM read_csv('{quoted}')").fetchall() == [(1,)]
    with pytest.raises(duckdb.PermissionException):
        con.execute("SELECT * FROM read_csv('/etc/passwd')")


def test_a_cursor_keeps_the_limits_of_its_connection(tmp_path: Path) -> None:
    (tmp_path / "secret.csv").write_text("x\n1\n", encoding="utf-8")
    con = connect(Limits("256MB", 1, query_seconds=0.5))
    con.execute("CREATE VIEW answer AS SELECT 42 AS a")
    cursor = con.cursor()
    assert cursor.execute("SELECT a FROM answer").fetchall() == [(42,)]
    with pytest.raises(QueryTimedOut):
        cursor.execute(ENDLESS).fetchall()
    with pytest.raises(duckdb.PermissionException):
        cursor.execute(f"SELECT * FROM read_csv('{tmp_path / 'secret.csv'}')")
    with pytest.raises(duckdb.InvalidInputException):
        cursor.execute("SET enable_external_access = true")
    cursor.close()
    assert con.execute("SELECT a FROM answer").fetchone() == (42,)
    started = time.monotonic()
    with pytest.raises(QueryTimedOut) as caught:
        con.cursor(seconds=0.2).execute(ENDLESS).fetchall()
    assert time.monotonic() - started < 5
    assert "0.2" in caught.value.render("en")
