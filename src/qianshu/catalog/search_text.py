"""The search text stored with listings and demands (``search_title`` / ``search_body``).

Computed from plain column values, so that the services (on every change) and a migration that
re-tokenises existing rows (0012, English stems) give the same text.
"""

from __future__ import annotations

from collections.abc import Iterable

from qianshu.catalog.tokens import index_tokens
from qianshu.catalog.vocab import (
    INDUSTRY_DIVISIONS,
    INDUSTRY_SECTIONS,
    industry_name,
    prefecture_of,
    region_search_text,
)


def listing_search_text(*, title_zh: str, title_en: str, description_zh: str, description_en: str,
                        tags: Iterable[str], industry_code: str, industry_section: str, division_code: str,
                        prefecture_code: str) -> tuple[str, str]:
    """(search_title, search_body): the titles, weighted apart; the rest with the industry's and
    the place's names in both languages."""
    industry = INDUSTRY_DIVISIONS.get(industry_code) or INDUSTRY_SECTIONS.get(industry_section)
    body = index_tokens(description_zh, description_en, " ".join(tags), " ".join(industry or ()),
                        region_search_text(division_code, prefecture_code))
    return index_tokens(title_zh, title_en), body


def demand_search_text(*, title: str, description: str, scenario: str, industry_code: str,
                       division_code: str) -> tuple[str, str]:
    region = region_search_text(division_code, prefecture_of(division_code)) if division_code else ""
    industry = (f"{industry_name(industry_code, 'zh')} {industry_name(industry_code, 'en')}"
                if industry_code else "")
    return index_tokens(title), index_tokens(description, scenario, industry, region)
