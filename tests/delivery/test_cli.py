"""`qianshu watermark issue` and `qianshu watermark detect` on a folder made by `qianshu init`."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from qianshu.catalog import service as catalog_service
from qianshu.catalog.schemas import ListingIn, PlanIn
from qianshu.cli import app
from qianshu.core.blobs import open_blob_store
from qianshu.core.cli_support import settings_for
from qianshu.core.db import Database
from qianshu.core.timeutil import utcnow
from qianshu.registry.models import Registration
from tests.delivery.test_watermark import product_table
from tests.factories import Factories
from tests.test_cli import no_folder

__all__ = ["no_folder"]
runner = CliRunner()


@pytest.fixture
def exchange(tmp_path: Path, no_folder: Path) -> tuple[Path, int, str]:
    """An initialised folder with one listed product with data; (folder, product id, seller's e-mail)."""
    folder = tmp_path / "exchange"
    assert runner.invoke(app, ["init", "--data-dir", str(folder)]).exit_code == 0
    settings = settings_for(folder)
    data = tmp_path / "data.parquet"
    pq.write_table(product_table(3_000), data)
    digest, size = open_blob_store(settings).put_file(data)
    database = Database(settings.effective_database_url)
    try:
        with database.unit_of_work() as db:
            make = Factories(db)
            user = make.user()
            seller = make.actor(user)
            operator = make.actor(make.operator())
            reg = Registration(holder_org_id=seller.org_id, status="issued", number="QS-DR-2026-000001",
                               title_zh="低收入家庭监测", title_en="Households", description_zh="", description_en="",
                               industry_code="S92", division_code="520102", update_frequency="monthly",
                               classification="general", personal_info="none", row_count=3_000, column_count=6,
                               issued_at=utcnow(), parquet_sha256=digest, parquet_size=size)
            db.add(reg)
            db.flush()
            listing = catalog_service.create_listing(db, seller, ListingIn(registration_id=reg.id))
            catalog_service.add_plan(db, seller, listing.id, PlanIn(kind="one_time", price="100",
                                                                    delivery_modes=["download"]))
            catalog_service.submit_listing(db, seller, listing.id)
            catalog_service.review_listing(db, operator, listing.id, "approve")
            return folder, listing.id, user.email
    finally:
        database.dispose()


def test_a_seller_issues_copies_and_finds_the_leaker(exchange: tuple[Path, int, str], tmp_path: Path) -> None:
    folder, product, email = exchange
    d = ["--data-dir", str(folder)]
    for recipient in ("HT-A", "HT-B", "HT-C"):
        # HT-B's copy is labelled as the download channel labels the copies it delivers.
        issued = runner.invoke(app, ["watermark", "issue", str(tmp_path / f"{recipient}.csv"),
                                     "--product", str(product), "--recipient", recipient, "--org-user", email,
                                     "--label", "download" if recipient == "HT-B" else "", "--json", *d])
        assert issued.exit_code == 0, issued.output
        assert json.loads(issued.stdout)["rows"] == 3_000
    # A third of the rows, re-encoded to GB18030.
    text = (tmp_path / "HT-B.csv").read_text(encoding="utf-8").splitlines()
    suspect = tmp_path / "found.csv"
    suspect.write_bytes("\n".join(text[:1] + text[1::3]).encode("gb18030"))
    found = runner.invoke(app, ["watermark", "detect", str(suspect), "--product", str(product), "--json", *d])
    assert found.exit_code == 0, found.output
    answer = json.loads(found.stdout)
    assert answer["named"]["recipient"] == "HT-B"
    assert answer["named"]["log10_adjusted_p"] < -6
    assert answer["false_positive_bound"] <= 1e-6
    # The same third saved by Excel as "CSV UTF-8": a byte-order mark in front, CRLF line ends.
    excel = tmp_path / "found-excel.csv"
    excel.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(text[:1] + text[1::3]).encode("utf-8"))
    from_excel = runner.invoke(app, ["watermark", "detect", str(excel), "--product", str(product), "--json", *d])
    assert from_excel.exit_code == 0, from_excel.output
    assert json.loads(from_excel.stdout)["named"]["recipient"] == "HT-B"
    assert json.loads(from_excel.stdout)["rows_aligned"] == answer["rows_aligned"]
    said = runner.invoke(app, ["watermark", "detect", str(suspect), "--product", str(product), *d])
    assert "HT-B" in said.output
    assert "水印" in said.output
    # Each half names the channel in its own language, never as the raw key.
    said_line = " ".join(said.output.split())
    assert "HT-B (文件下载)" in said_line
    assert "HT-B (File download)" in said_line
    assert "(download)" not in said_line
    clean = tmp_path / "clean.parquet"
    pq.write_table(product_table(3_000), clean)
    silent = runner.invoke(app, ["watermark", "detect", str(clean), "--product", str(product), *d])
    assert silent.exit_code == 0
    assert "未发现本平台的水印。 / No watermark of ours found." in silent.output


def test_errors_are_one_bilingual_line(exchange: tuple[Path, int, str], tmp_path: Path) -> None:
    folder, product, email = exchange
    d = ["--data-dir", str(folder)]
    bad = runner.invoke(app, ["watermark", "issue", str(tmp_path / "x.pdf"), "--product", str(product),
                              "--recipient", "HT-A", "--org-user", email, "--format", "pdf", *d])
    assert bad.exit_code == 1
    lines = bad.output.strip().splitlines()
    assert len(lines) == 1
    assert "请选择格式" in lines[0]
    assert "Choose a format" in lines[0]
    missing = runner.invoke(app, ["watermark", "detect", str(tmp_path / "x.pdf"), "--product", "999", *d])
    assert missing.exit_code != 0
