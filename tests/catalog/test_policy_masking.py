"""ODRL policies (build, read back, describe) and masking of personal information."""

from __future__ import annotations

import json

import pytest
from rdflib import Graph

from qianshu.catalog import policy
from qianshu.core import masking
from qianshu.core.errors import InvalidInput


def test_odrl_round_trip_and_plain_language() -> None:
    terms = policy.PolicyTerms(
        ("research", "commercial"), 90, "CN-GZ", onward_transfer=False, resale=True, attribution=True
    )
    odrl = policy.build_odrl(terms, uid="https://x/p/1", target="https://x/catalog/1", assigner="https://x/o/1")
    assert odrl["@type"] == "Offer"
    assert {r["action"] for r in odrl["prohibition"]} == {"distribute"}
    assert policy.terms_from_odrl(odrl) == terms
    zh, en = policy.describe(terms, "zh"), policy.describe(terms, "en")
    assert any("90" in line and "天" in line for line in zh)
    assert any("Resale is allowed" in line for line in en)
    assert any("贵州省" in line for line in zh)
    inline = {**odrl, "@context": {"@vocab": "http://www.w3.org/ns/odrl/2/"}}
    assert len(Graph().parse(data=json.dumps(inline), format="json-ld")) > 5


def test_bad_policy_terms() -> None:
    with pytest.raises(InvalidInput):
        policy.PolicyTerms(("gambling",)).validated()
    with pytest.raises(InvalidInput):
        policy.PolicyTerms(territory="US").validated()


@pytest.mark.parametrize(
    ("kind", "raw", "masked"),
    [
        ("resident_id", "520102199001011234", "5201**********1234"),
        ("mobile", "13812345678", "138****5678"),
        ("mobile", "+86 138 1234 5678", "138****5678"),
        ("name", "张三", "张*"),
        ("name", "欧阳娜娜", "欧***"),
        ("email", "wang@example.cn", "w***@example.cn"),
        ("bank_card", "6222021234567890123", "6222***********0123"),
        ("unknown_kind", "secret", "s****t"),
    ],
)
def test_masks(kind: str, raw: str, masked: str) -> None:
    assert masking.mask_value(raw, kind) == masked


def test_mask_rows_only_touches_pii_columns() -> None:
    rows = masking.mask_rows(["name", "city"], [["李四", "贵阳"], [None, "遵义"]], {"name": "name"})
    assert rows == [["李*", "贵阳"], [None, "遵义"]]
