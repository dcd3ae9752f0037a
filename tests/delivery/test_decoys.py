"""Keyed decoy rows: each delivered copy carries a few made-up rows derived from its contract's key;
a leaked copy with columns shuffled or dropped and a subset of its rows names its contract and no
other, in CSV, XLSX and Parquet; delivered through signed links and traced by the CLI and the API."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from qianshu.cli import app
from qianshu.core.actor import Actor
from qianshu.core.db import Database
from qianshu.core.errors import Conflict, InvalidInput
from qianshu.core.settings import Settings
from qianshu.delivery import links, service
from qianshu.delivery.decoys import DecoyModel, decoys_for, make_model, trace_decoys, with_decoys
from qianshu.delivery.files import original_sample, read_suspect, write_copy
from qianshu.delivery.watermark import PLAN_SAMPLE_ROWS, WatermarkKey, WatermarkPolicy, make_plan, watermark_batches
from qianshu.exchange.models import Contract
from tests.delivery.test_cli import exchange  # noqa: F401 - fixture
from tests.delivery.test_links import contract_of  # noqa: F401 - fixture
from tests.delivery.test_watermark import LEAKER, OTHERS, POLICY, SECRET, product_table
from tests.exchange.conftest import fund  # noqa: F401 - fixture
from tests.test_cli import no_folder  # noqa: F401 - fixture

ROWS = 20_000
DECOYS = 10


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("decoys") / "product.parquet"
    pq.write_table(product_table(ROWS), path, row_group_size=5_000)
    return path


@pytest.fixture(scope="module")
def model(original: Path) -> DecoyModel:
    sample = original_sample(original, PLAN_SAMPLE_ROWS)
    return make_model(sample, make_plan(sample, POLICY).identity, DECOYS)


def _delivered(original: Path, model: DecoyModel, key: WatermarkKey) -> pa.Table:
    plan = make_plan(original_sample(original, PLAN_SAMPLE_ROWS), POLICY)
    marked = watermark_batches(pq.ParquetFile(original).iter_batches(batch_size=4_096), plan, key)
    return pa.Table.from_batches(list(with_decoys(marked, model, key, ROWS)))


def test_decoys_look_like_the_products_rows_and_are_keyed(original: Path, model: DecoyModel) -> None:
    source = pq.read_table(original)
    ids = set(source.column("户编号").to_pylist())
    decoys = decoys_for(model, LEAKER, ROWS)
    assert len(decoys) == DECOYS
    assert decoys == decoys_for(model, LEAKER, ROWS)  # derived, not drawn: the trace makes them again
    others = {d.values for d in decoys_for(model, OTHERS[0], ROWS)}
    assert not others & {d.values for d in decoys}
    incomes = source.column("收入").to_numpy()
    for decoy in decoys:
        household, county, address, income, people, registered = decoy.values
        assert isinstance(household, str)
        assert household.startswith("5201")
        assert len(household) == 14
        assert household not in ids
        assert county in {"南明区", "云岩区", "花溪区", "乌当区", "白云区", "观山湖区"}
        assert isinstance(address, str)
        assert address.startswith("幸福路")
        assert address.endswith("号")
        assert incomes.min() <= float(income) <= incomes.max()  # type: ignore[arg-type]
        assert round(float(income), 2) == income  # type: ignore[arg-type]
        assert 1 <= int(people) <= 8  # type: ignore[call-overload]
        date.fromisoformat(str(registered))
    copy = _delivered(original, model, LEAKER)
    assert copy.num_rows == ROWS + DECOYS
    households = copy.column("户编号").to_pylist()
    positions = [households.index(d.values[0]) for d in decoys]
    assert positions == sorted(positions)
    assert positions[-1] - positions[0] > ROWS // 10  # spread among the real rows, not appended at the end


def _leak(table: pa.Table, seed: int, share: float) -> pa.Table:
    """A subset of the rows, one column dropped and the others shuffled."""
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(table.num_rows, int(table.num_rows * share), replace=False))
    names = [n for n in table.column_names if n != "登记日期"]
    order = list(rng.permutation(len(names)))
    subset = table.take(pa.array(keep))
    return subset.select([names[i] for i in order])


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet"])
def test_a_leak_with_columns_shuffled_and_a_subset_of_rows_names_its_contract_and_no_other(
        tmp_path: Path, original: Path, model: DecoyModel, fmt: str) -> None:
    leaked = _leak(_delivered(original, model, LEAKER), seed=11, share=0.4)
    kept = set(leaked.column("户编号").to_pylist()) & {d.values[0] for d in decoys_for(model, LEAKER, ROWS)}
    assert kept  # the subset holds some of the leaker's decoys (what a trace needs)
    path = tmp_path / f"leak.{fmt}"
    write_copy(leaked.to_batches(), leaked.schema, path, fmt)
    keys = [*OTHERS, LEAKER]
    found = trace_decoys(read_suspect(path), model, keys, ROWS, 1e-6)
    assert found.named == (LEAKER.key_id,)
    assert len(found.found) == len(kept)
    assert found.false_positive_bound < 1e-6
    assert all(f.bits >= found.threshold_bits for f in found.found)


def test_copies_of_others_and_the_original_stay_silent(tmp_path: Path, original: Path, model: DecoyModel) -> None:
    path = tmp_path / "clean.csv"
    source = pq.read_table(original)
    write_copy(source.to_batches(), source.schema, path, "csv")
    many = [WatermarkKey.for_contract(SECRET, f"HT-2027-{i:06d}") for i in range(300)]
    assert trace_decoys(read_suspect(path), model, many, ROWS, 1e-6).named == ()
    other = _delivered(original, model, OTHERS[3])
    path = tmp_path / "other.parquet"
    write_copy(other.to_batches(), other.schema, path, "parquet")
    assert trace_decoys(read_suspect(path), model, [LEAKER, *many], ROWS, 1e-6).named == ()


def test_decoys_in_a_column_of_millions_keep_its_decimals_and_earlier_copies_are_traced(tmp_path: Path) -> None:
    """Amounts of millions with two decimals: a decoy has two decimals too (rules 1 gave it whole
    yuan, a row that stood out); a copy carrying rules-1 decoys is traced through both models."""
    from tests.delivery.test_watermark import demo_like_table

    original = tmp_path / "product.parquet"
    pq.write_table(demo_like_table(), original)
    sample = original_sample(original, PLAN_SAMPLE_ROWS)
    identity = make_plan(sample, WatermarkPolicy()).identity
    current, earlier = make_model(sample, identity, DECOYS), make_model(sample, identity, DECOYS, rules=1)
    amounts = [d.values[2] for d in decoys_for(current, LEAKER, 6_000)]
    assert all(isinstance(a, float) and a >= 1_000_000 for a in amounts)
    assert any(round(float(a)) != a for a in amounts)  # cents, like the real rows
    assert all(float(a) == round(float(a)) for a in (d.values[2] for d in decoys_for(earlier, LEAKER, 6_000)))
    for made_with in (current, earlier):
        copy = pa.Table.from_batches(list(with_decoys(pq.ParquetFile(original).iter_batches(), made_with, LEAKER,
                                                      6_000)))
        path = tmp_path / "leak.csv"
        write_copy(copy.to_batches(), copy.schema, path, "csv")
        found = trace_decoys(read_suspect(path), (current, earlier), [*OTHERS, LEAKER], 6_000, 1e-6)
        assert found.named == (LEAKER.key_id,)
        assert found.decoys_tested == 2 * DECOYS * (len(OTHERS) + 1)  # both models' decoys, each counted


def test_decoys_of_a_statistics_product_look_like_its_rows_and_still_name_the_leaker(tmp_path: Path) -> None:
    """Like the demo's medical statistics: months as YYYY-MM, districts by code and name, a kind,
    counts and amounts. A decoy's month is a real month of the range, its code and name belong
    together, its count lies among the real ones (rules 2 gave 2048-90, codes that exist nowhere
    and counts far above the largest); a copy still names its contract."""
    rng = np.random.default_rng(5)
    districts = {520102: "南明区", 520103: "云岩区", 520111: "花溪区", 520112: "乌当区", 520113: "白云区"}
    months = [f"{2022 + i // 12}-{1 + i % 12:02d}" for i in range(36)]
    keys = [(m, c, k) for m in months for c in districts for k in ("门诊", "住院", "购药")]
    table = pa.table({"月份": [m for m, _, _ in keys], "区县代码": [c for _, c, _ in keys],
                      "区县": [districts[c] for _, c, _ in keys], "类型": [k for _, _, k in keys],
                      "结算人次": rng.integers(200, 18_000, len(keys)),
                      "金额": np.round(rng.uniform(1e4, 1e7, len(keys)), 2)})
    original = tmp_path / "health.parquet"
    pq.write_table(table, original)
    sample = original_sample(original, PLAN_SAMPLE_ROWS)
    identity = ("结算人次", "月份")  # as the automatic choice took them on the demo's product
    model = make_model(sample, identity, DECOYS)
    for decoy in decoys_for(model, LEAKER, len(keys)):
        month, code, name, kind, count, amount = decoy.values
        assert "2022-01" <= str(month) <= "2024-12"
        assert 1 <= int(str(month)[5:]) <= 12
        assert districts[code] == name  # type: ignore[index]
        assert kind in ("门诊", "住院", "购药")
        assert 200 <= count < 18_000  # type: ignore[operator]
        assert 1e4 <= amount <= 1e7  # type: ignore[operator]
    copy = pa.Table.from_batches(list(with_decoys(pq.ParquetFile(original).iter_batches(), model, LEAKER,
                                                  len(keys))))
    path = tmp_path / "leak.csv"
    write_copy(copy.to_batches(), copy.schema, path, "csv")
    earlier = [make_model(sample, identity, DECOYS, rules=r) for r in (2, 1)]
    found = trace_decoys(read_suspect(path), (model, *earlier), [*OTHERS, LEAKER], len(keys), 1e-6)
    assert found.named == (LEAKER.key_id,)
    assert len(found.found) == DECOYS


def test_a_downloaded_copy_carries_the_contracts_decoys_and_the_api_traces_it(
        client: Any, db: Session, database: Database, settings: Settings, buyer: Actor, merchant: Actor,
        operator_token: str, contract_of: Callable[..., Contract], tmp_path: Path) -> None:  # noqa: F811
    contract = contract_of()
    other = contract_of()
    for c in (contract, other):
        service.set_watermark_policy(db, merchant, settings, c.listing_id, [], {}, decoys=6)
    with pytest.raises(InvalidInput):
        service.set_watermark_policy(db, merchant, settings, contract.listing_id, [], {}, decoys=101)
    link = links.issue_link(db, buyer, settings, contract.id, "xlsx")
    db.flush()
    parts = urlsplit(settings.public_base + links.link_path(settings, link))
    fetched = client.get(f"{parts.path}?{parts.query}")
    assert fetched.status_code == 200
    suspect = tmp_path / "copy.xlsx"
    suspect.write_bytes(fetched.content)
    table = read_suspect(suspect)
    assert table.num_rows == 3_000 + 6
    # Columns reversed, every other row, as CSV.
    leaked = table.select(list(reversed(range(table.num_columns)))).take(pa.array(range(0, table.num_rows, 2)))
    # (A subset that lost every decoy could not be traced by them: this one keeps some, or the test says so.)
    leak = tmp_path / "leak.csv"
    write_copy(leaked.to_batches(), leaked.schema, leak, "csv")
    found = service.trace_leak(database, merchant, settings, contract.listing_id, leak)
    assert found.named == (contract.number,)
    assert other.number not in found.named
    # The operator's API: the same answer.
    answer = client.post(f"/api/v1/delivery/products/{contract.listing_id}/trace", content=leak.read_bytes(),
                         headers={"Authorization": f"Bearer {operator_token}"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["named"] == [contract.number]
    # A product whose seller allowed no decoys: the trace says so (409), bilingual.
    service.set_watermark_policy(db, merchant, settings, other.listing_id, [], {}, decoys=0)
    with pytest.raises(Conflict):
        service.trace_leak(database, merchant, settings, other.listing_id, leak)


@pytest.fixture
def operator_token(db: Session) -> str:
    from qianshu.accounts import service as accounts
    from qianshu.accounts.schemas import TokenIn
    from tests.factories import Factories

    make = Factories(db)
    user = make.operator()
    _token, raw = accounts.create_token(db, accounts.actor_for(user, via="api", ip="127.0.0.1"),
                                        TokenIn(name="test", scopes=["read", "write"]))
    return raw


def test_the_cli_traces_a_leak(exchange: tuple[Path, int, str], tmp_path: Path) -> None:  # noqa: F811
    from qianshu.core.cli_support import settings_for

    folder, product, email = exchange
    d = ["--data-dir", str(folder)]
    settings = settings_for(folder)
    database = Database(settings.effective_database_url)
    try:
        with database.unit_of_work() as db:
            from qianshu.accounts.service import active_user_by_email, actor_for

            user = active_user_by_email(db, email)
            assert user is not None
            service.set_watermark_policy(db, actor_for(user, via="cli", ip=None), settings, product, [], {},
                                         decoys=20)
    finally:
        database.dispose()
    runner = CliRunner()
    for recipient in ("HT-A", "HT-B"):
        issued = runner.invoke(app, ["watermark", "issue", str(tmp_path / f"{recipient}.parquet"), "--format",
                                     "parquet", "--product", str(product), "--recipient", recipient,
                                     "--org-user", email, *d])
        assert issued.exit_code == 0, issued.output
    copy = pq.read_table(tmp_path / "HT-B.parquet")
    assert copy.num_rows == 3_000 + 20
    leaked = copy.select([3, 1, 0, 4]).slice(0, 2_000)
    suspect = tmp_path / "leak.parquet"
    pq.write_table(leaked, suspect)
    said = runner.invoke(app, ["watermark", "trace", str(suspect), "--product", str(product), "--json", *d])
    assert said.exit_code == 0, said.output
    answer = json.loads(said.stdout)
    assert answer["named"] == ["HT-B"]
    words = runner.invoke(app, ["watermark", "trace", str(suspect), "--product", str(product), *d])
    assert "HT-B" in words.output
    assert "诱饵" in words.output
    clean = tmp_path / "clean.parquet"
    pq.write_table(product_table(3_000), clean)
    silent = runner.invoke(app, ["watermark", "trace", str(clean), "--product", str(product), *d])
    assert silent.exit_code == 0
    assert "未发现本平台的诱饵行" in silent.output


def test_data_api_pages_carry_the_contracts_decoys(client: Any, db: Session, settings: Settings,
                                                   tmp_path: Path) -> None:
    """Rows collected page by page through the data API hold the contract's decoys (not metered),
    filtered like real rows; the trace names the API contract from them."""
    from tests.delivery.delivery_support import bearer, make_setup

    setup = make_setup(db, settings, tmp_path)
    service.set_watermark_policy(db, setup.merchant, settings, setup.listing.id, [], {}, decoys=12)
    key = client.post(f"/api/v1/delivery/contracts/{setup.rows_contract.id}/api-key",
                      headers=bearer(setup.buyer_token)).json()["key"]
    collected: list[list[Any]] = []
    columns: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/delivery/data/rows", params=params, headers={"X-API-Key": key})
        assert page.status_code == 200, page.text
        body = page.json()
        columns = body["columns"]
        collected += body["rows"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(collected) == 2_000 + 12
    # Filtered pages: a decoy comes only where it passes the filter, like a real row.
    filtered = client.get("/api/v1/delivery/data/rows", params={"limit": 1000, "filter": "age:ge:60"},
                          headers={"X-API-Key": key}).json()
    ages = [row[filtered["columns"].index("age")] for row in filtered["rows"]]
    assert all(age >= 60 for age in ages)
    table = pa.table({name: [row[i] for row in collected] for i, name in enumerate(columns)})
    leaked = table.select(list(reversed(columns))[:-2])  # two columns dropped, the rest reversed
    path = tmp_path / "from-the-api.csv"
    write_copy(leaked.to_batches(), leaked.schema, path, "csv")
    from qianshu.delivery.decoys import trace_decoys as trace

    prepared = service.prepare_detection(db, setup.merchant, settings, setup.listing.id)
    assert prepared.decoys is not None
    found = trace(read_suspect(path), prepared.decoys, prepared.keys, prepared.total_rows, prepared.alpha)
    assert found.named == (setup.rows_contract.number,)
