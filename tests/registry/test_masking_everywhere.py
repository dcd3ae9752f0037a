"""One masking: a value looks the same on the registration page and on the product page."""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path
from typing import Any

from qianshu.catalog import masking
from qianshu.catalog import service as catalog
from qianshu.catalog.schemas import ListingIn, PlanIn
from qianshu.core.signing import load_signer
from qianshu.registry import review, schemas
from qianshu.registry import service as registry
from tests.registry.conftest import people_rows, write_csv
from tests.registry.helpers import DECLARATION, process, sign_in


def issued_with_people(database: Any, db: Any, settings: Any, make: Any, merchant: Any, reviewer: Any,
                       operator: Any, path: Path, rows: int = 12) -> Any:
    """An issued registration of a small file of people (names, resident IDs, mobile numbers)."""
    m = make.actor(merchant)
    reg = process(database, db, settings, m, [write_csv(path, [r[:3] for r in people_rows(rows)],
                                                         header=["姓名", "身份证号", "手机号"])])
    registry.update_declaration(db, m, reg.id, DECLARATION)
    review.submit(db, m, reg.id)
    review.approve(db, make.actor(reviewer), settings, reg.id, schemas.Approval())
    review.issue_certificate(db, make.actor(operator), settings, load_signer(settings.key_dir), reg.id,
                             now=reg.notice_ends_at + dt.timedelta(seconds=1))
    db.commit()
    return reg


def test_the_catalogue_masks_with_the_registry_s_function() -> None:
    for kind, raw in [("resident_id", "520102199001011234"), ("mobile", "13812345678"), ("name", "欧阳娜娜"),
                      ("email", "wang@example.cn"), ("licence_plate", "贵A12345"), ("ip_address", "10.1.2.3")]:
        assert masking.mask_value(raw, kind) == registry.mask_value(raw, kind)
        assert masking.mask_value(raw, kind) != raw


def test_same_value_masked_alike_on_registration_and_product_pages(  # type: ignore[no-untyped-def]
        client, database, db, settings, make, merchant, reviewer, operator, tmp_path) -> None:
    reg = issued_with_people(database, db, settings, make, merchant, reviewer, operator, tmp_path / "people.csv")
    m = make.actor(merchant)
    listing = catalog.create_listing(db, m, ListingIn(registration_id=reg.id, tags=[], data_type="table"))
    catalog.add_plan(db, m, listing.id, PlanIn(kind="one_time", price="1200", delivery_modes=["api"]))
    catalog.submit_listing(db, m, listing.id)
    catalog.review_listing(db, make.actor(operator), listing.id, "approve")
    db.commit()
    sign_in(client, merchant)
    findings = client.get(f"/registry/{reg.id}").text.split('id="pii"')[1].split("</table>")[0]
    # a column's name sits in a span that says its language: <td><span lang="zh-CN">姓名</span></td>
    examples = dict(re.findall(r"<tr><td>(?:<span[^>]*>)?([^<]+)(?:</span>)?</td>.*?<code>([^<]+)</code>", findings))
    assert set(examples) >= {"姓名", "身份证号", "手机号"}
    product = html.unescape(client.get(f"/catalog/{listing.id}").text)
    for column, example in examples.items():
        example = html.unescape(example)
        assert example in product, (column, example)  # the product sample shows it masked the same way
    assert re.fullmatch(r"5201\*{10}\d{3}[\dX]", html.unescape(examples["身份证号"]))
    assert re.fullmatch(r"1\d{2}\*{4}\d{4}", examples["手机号"])
    for raw in (people_rows(12)[0][1], people_rows(12)[0][2]):
        assert raw not in product
