"""CLDR formatting (Babel) of times, numbers and money in the user's language.

- Times are stored in UTC and shown in Asia/Shanghai with the zone: ``2026年11月30日 13:21 GMT+08:00``
  / ``Nov 30, 2026, 1:21 PM GMT+08:00``.
- Numbers use the locale's grouping: ``1,234,567``.
- Money comes as integer fen. In Chinese, amounts from a million yuan up are written in 万 or 亿
  (``¥1,250万``, ``¥3.2亿``) as people read them; smaller ones in full (``¥1,250.00``). English uses
  CLDR's currency format, ``CN¥1,250.00``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from babel.dates import format_date as _format_date
from babel.dates import format_time as _format_time
from babel.dates import get_datetime_format
from babel.numbers import format_currency, format_decimal

from qianshu.core.i18n import LANGUAGES, LOCALES, catalogue
from qianshu.core.timeutil import SHANGHAI, as_utc

WAN = 10_000
YI = 100_000_000
# From a million yuan up, Chinese shows 万 (below that, full amounts read better: ¥25,000.00).
WAN_FROM_YUAN = 1_000_000


def _locale(lang: str) -> str:
    return LOCALES.get(lang, LOCALES["en"])


def format_datetime(value: datetime | None, lang: str, *, seconds: bool = False) -> str:
    """A stored (UTC) time in Asia/Shanghai, in the language's medium date, with the zone."""
    if value is None:
        return ""
    local = as_utc(value).astimezone(SHANGHAI)
    locale = _locale(lang)
    day = _format_date(local.date(), "medium", locale=locale)
    time = _format_time(local, "medium" if seconds else "short", tzinfo=SHANGHAI, locale=locale)
    zone = _format_time(local, "ZZZZ", tzinfo=SHANGHAI, locale=locale)
    return f"{str(get_datetime_format('medium', locale=locale)).format(time, day)} {zone}"


def format_day(value: date | datetime | None, lang: str) -> str:
    """A calendar day (a datetime is first moved to Asia/Shanghai)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = as_utc(value).astimezone(SHANGHAI).date()
    return _format_date(value, "medium", locale=_locale(lang))


def format_number(value: int | float | Decimal | None, lang: str, *, decimals: int | None = None) -> str:
    if value is None:
        return ""
    if decimals is not None:
        pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
        return format_decimal(value, pattern, locale=_locale(lang))
    return format_decimal(value, locale=_locale(lang))


def format_money(fen: int | None, lang: str, *, exact: bool = False) -> str:
    """An amount of integer fen in yuan: ``¥1,250.00`` / ``¥1,250万`` (zh), ``CN¥1,250.00`` (en).
    ``exact`` keeps every fen in Chinese too, where a reader must type the amount (a least bid):
    ``¥2,093.78万`` would read as less than the ¥20,937,840.00 it stands for."""
    if fen is None:
        return ""
    yuan = Decimal(fen) / 100
    locale = _locale(lang)
    if lang == "zh" and abs(yuan) >= WAN_FROM_YUAN and not exact:
        unit, size = ("亿", YI) if abs(yuan) >= YI else ("万", WAN)
        sign = "-" if yuan < 0 else ""
        return f"{sign}¥{format_decimal(abs(yuan) / size, '#,##0.##', locale=locale)}{unit}"
    return format_currency(yuan, "CNY", locale=locale)


def warm_up() -> None:
    """Load each language's CLDR data and translations now: Babel reads a locale's data file the
    first time it formats in that locale (about 12 ms of CPU for Chinese), and the translations
    are read from their .po files at first use; a server does this before it accepts requests."""
    moment = datetime(2026, 1, 1, tzinfo=SHANGHAI)
    for lang in LANGUAGES:
        catalogue(lang)
        format_datetime(moment, lang)
        format_number(1234.5, lang)
        format_number(1234.5, lang, decimals=2)
        format_money(123_456_789, lang)
        format_money(12_345, lang)
