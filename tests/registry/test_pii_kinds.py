"""The PII scan finds every kind it knows, alone in a cell or inside free text, and nothing in
text that only resembles them (the scan skips a pattern for values that cannot match it)."""

from __future__ import annotations

import random
from pathlib import Path

from qianshu.core.identifiers import uscc_check_char
from qianshu.registry.pipeline import SourceFile, run_pipeline
from tests.registry.conftest import resident_id, write_csv


def _luhn_card(r: random.Random) -> str:
    body = "622202" + "".join(str(r.randint(0, 9)) for _ in range(9))
    for last in "0123456789":
        digits = [int(c) for c in reversed(body + last)]
        if (sum(digits[0::2]) + sum(sum(divmod(2 * d, 10)) for d in digits[1::2])) % 10 == 0:
            return body + last
    raise AssertionError("unreachable")


def _uscc(r: random.Random) -> str:
    body = "91520100" + "".join(r.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(9))
    return body + uscc_check_char(body)


KINDS = {
    "身份证": ("resident_id", lambda r: f"本人身份证{resident_id(r)}，已核验"),
    "银行卡": ("bank_card", lambda r: f"卡号 {_luhn_card(r)}"),
    "电话": ("mobile", lambda r: f"请拨+86 1{r.choice('3589')}{r.randint(0, 999_999_999):09d}联系"),
    "座机": ("landline", lambda r: f"办公室0851-{r.randint(1_000_000, 9_999_999)}"),
    "邮箱": ("email", lambda r: f"发送至 user{r.randint(1, 999)}@example.cn 即可"),
    "信用代码": ("uscc", lambda r: f"统一社会信用代码：{_uscc(r)}"),
    "护照": ("passport", lambda r: f"护照E{r.randint(10_000_000, 99_999_999)}"),
    "车牌": ("licence_plate", lambda r: f"车辆贵A{r.randint(10_000, 99_999)}停放"),
    "地址IP": ("ip_address", lambda r: f"来自10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"),
}


def test_every_kind_is_found_in_free_text(tmp_path: Path) -> None:
    r = random.Random(7)
    header = [*KINDS, "说明"]
    # The last column resembles several kinds without being any: 5 digits, a date, a version
    # number with dots, an at sign without a domain, a province and letters without digits.
    rows = [[make(r) for _kind, make in KINDS.values()]
            + [r.choice(["编号12345号", "2025-01-01", "版本1.2.3", "@小王", "贵A号段", "共计40000元"])]
            for _ in range(60)]
    result = run_pipeline([SourceFile(write_csv(tmp_path / "p.csv", rows, header=header), "p.csv")],
                          tmp_path / "work")
    found = {(f.column, f.kind) for f in result.findings}
    for column, (kind, _make) in KINDS.items():
        assert (column, kind) in found, (column, kind, found)
        finding = next(f for f in result.findings if f.column == column and f.kind == kind)
        assert finding.share == 1.0, finding
    assert not [f for f in result.findings if f.column == "说明"]
