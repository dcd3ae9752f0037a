"""Chinese identifiers and their check characters.

- USCC, 统一社会信用代码 (GB 32100-2015): 18 characters over a 31-symbol alphabet (no I, O,
  Z, S, V); the 18th is a check character, weights 3^i mod 31.
- Resident ID, 公民身份号码 (GB 11643-1999): 17 digits and a check character by ISO 7064
  MOD 11-2 (``X`` stands for 10), with a real birth date in positions 7-14.
- Division code, 行政区划代码 (GB/T 2260): six digits. Province prefixes are checked for the
  whole country; inside Guizhou (52) the code must be one we ship in ``demo/data``.

Validators take raw user input and return the normalised code, or raise ``InvalidInput``
naming the field and the reason, in both languages.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from datetime import date
from functools import lru_cache
from operator import mul
from pathlib import Path

from qianshu.core.errors import InvalidInput

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
PROVINCE_PREFIXES = frozenset([
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34",
    "35", "36", "37", "41", "42", "43", "44", "45", "46", "50", "51", "52",
    "53", "54", "61", "62", "63", "64", "65", "71", "81", "82",
])
_DIVISIONS_CSV = Path(__file__).resolve().parent.parent / "demo" / "data" / "guizhou_divisions.csv"
_PREFECTURES_CSV = _DIVISIONS_CSV.with_name("guizhou_prefectures.csv")


def _reject(field: str, reason: str) -> InvalidInput:
    return InvalidInput("{field}: {reason}", field=field, code="invalid_" + field.split(".")[-1],
                        reason=reason)


def _clean(value: str, field: str) -> str:
    """Trim surrounding white space; refuse full-width forms and inner spaces with a clear reason."""
    text = value.strip()
    if any(unicodedata.east_asian_width(ch) in ("F", "W") for ch in text):
        raise _reject(field, "contains full-width characters; use half-width letters and digits")
    if any(ch.isspace() for ch in text):
        raise _reject(field, "contains spaces")
    return text


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(ch) * w for ch, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(value: str, field: str = "uscc") -> str:
    code = _clean(value, field).upper()
    if len(code) != 18:
        raise _reject(field, "must be 18 characters")
    if any(ch not in USCC_ALPHABET for ch in code):
        raise _reject(field, "contains characters outside the code alphabet")
    if uscc_check_char(code[:17]) != code[17]:
        raise _reject(field, "the check character is wrong")
    return code


def is_valid_uscc(value: str) -> bool:
    try:
        validate_uscc(value)
    except InvalidInput:
        return False
    return True


def resident_id_check_char(first17: str) -> str:
    if len(first17) != len(ID_WEIGHTS):
        raise ValueError("a resident ID's check character is computed from its first 17 digits")
    # map() rather than a generator: the PII scan verifies thousands of candidates per column
    return ID_CHECK[sum(map(mul, map(int, first17), ID_WEIGHTS)) % 11]


def validate_resident_id(value: str, field: str = "resident_id") -> str:
    code = _clean(value, field).upper()
    if len(code) != 18:
        raise _reject(field, "must be 18 characters")
    if not (code[:17].isascii() and code[:17].isdigit()) or code[17] not in "0123456789X":
        raise _reject(field, "contains characters outside the code alphabet")
    if resident_id_check_char(code[:17]) != code[17]:
        raise _reject(field, "the check character is wrong")
    try:
        date(int(code[6:10]), int(code[10:12]), int(code[12:14]))
    except ValueError:
        raise _reject(field, "the birth date is not a real date") from None
    return code


_ID_SHAPE = re.compile(r"[0-9]{17}[0-9Xx]")


def is_valid_resident_id(value: str) -> bool:
    """Fast path for scanning millions of values: shape, then check digit, then date."""
    if not _ID_SHAPE.fullmatch(value):
        return False
    if resident_id_check_char(value[:17]) != value[17].upper():
        return False
    try:
        date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return True


@lru_cache(maxsize=1)
def guizhou_divisions() -> dict[str, str]:
    """Code → name for the province, its 9 prefectures and 88 county-level divisions."""
    names = {"520000": "贵州省"}
    for path in (_PREFECTURES_CSV, _DIVISIONS_CSV):
        with path.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                names[row["code"]] = row["name"]
    return names


@lru_cache(maxsize=1)
def guizhou_parents() -> dict[str, str]:
    """County code → prefecture code (prefecture → province), for region facets."""
    parents = {code: "520000" for code in guizhou_divisions() if code.endswith("00") and code != "520000"}
    with _DIVISIONS_CSV.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            parents[row["code"]] = row["prefecture_code"]
    return parents


def validate_division_code(value: str, field: str = "division_code") -> str:
    code = _clean(value, field)
    if len(code) != 6 or not (code.isascii() and code.isdigit()):
        raise _reject(field, "must be 6 digits")
    if code[:2] not in PROVINCE_PREFIXES or (code[:2] == "52" and code not in guizhou_divisions()):
        raise _reject(field, "is not a known division code")
    return code


def validate_jurisdiction(value: str, field: str = "jurisdiction") -> str:
    """A jurisdiction: a known GB/T 2260 code (province, prefecture, county) or a township (9 digits)
    or village (12 digits) statistical code within a known county-level division."""
    code = _clean(value, field)
    if len(code) not in (6, 9, 12) or not (code.isascii() and code.isdigit()):
        raise _reject(field, "must be a division code of 6, 9 or 12 digits")
    if len(code) == 6:
        return validate_division_code(code, field)
    county = code[:6]
    if county.endswith("00") or not is_valid_division_code(county):
        raise _reject(field, "is not within a known county-level division")
    if code[6:9] == "000" or (len(code) == 12 and code[9:] == "000"):
        raise _reject(field, "is not a known division code")
    return code


def is_valid_division_code(value: str) -> bool:
    try:
        validate_division_code(value)
    except InvalidInput:
        return False
    return True


def luhn_ok(digits: str) -> bool:
    """Bank card numbers (ISO/IEC 7812) end in a Luhn check digit."""
    if not (digits.isascii() and digits.isdigit()) or not 12 <= len(digits) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0
