"""Names for facet values: industries and regions (core/vocabulary.py, shared with the registry's
pages), and the labels of the catalogue's own enumerations. English strings are message ids
(see zh.toml)."""

from __future__ import annotations

from qianshu.core.identifiers import guizhou_divisions
from qianshu.core.vocabulary import INDUSTRY_DIVISIONS as INDUSTRY_DIVISIONS
from qianshu.core.vocabulary import INDUSTRY_SECTIONS as INDUSTRY_SECTIONS
from qianshu.core.vocabulary import PREFECTURES_EN as PREFECTURES_EN
from qianshu.core.vocabulary import industry_name as industry_name
from qianshu.core.vocabulary import region_name as region_name

DATA_TYPE_LABELS = {
    "table": "Tables",
    "time_series": "Time series",
    "geospatial": "Geospatial",
    "text": "Text",
    "media": "Images and media",
}
DELIVERY_LABELS = {
    "download": "File download",
    "delta_sharing": "Delta Sharing",
    "api": "Data API",
    "sandbox": "Sandbox (usable but not visible)",
}
CLASSIFICATION_LABELS = {"general": "General data", "important": "Important data", "core": "Core data"}
FREQUENCY_LABELS = {
    "once": "One-off",
    "realtime": "Real time",
    "daily": "Daily",
    "weekly": "Weekly",
    "monthly": "Monthly",
    "quarterly": "Quarterly",
    "yearly": "Yearly",
}
STATUS_LABELS = {
    "draft": "Draft",
    "pending": "Awaiting review",
    "listed": "Listed",
    "rejected": "Rejected",
    "paused": "Paused",
    "delisted": "Delisted",
}


def region_search_text(division_code: str, prefecture_code: str) -> str:
    """Words that make a product findable by its place: county, prefecture, their English names."""
    names = guizhou_divisions()
    parts = [
        names.get(division_code, ""),
        names.get(prefecture_code, ""),
        PREFECTURES_EN.get(prefecture_code, ""),
        "贵州",
        "Guizhou",
    ]
    return " ".join(p for p in parts if p)


def prefecture_of(division_code: str) -> str:
    if division_code.startswith("52") and len(division_code) == 6:
        return division_code if division_code.endswith("00") else division_code[:4] + "00"
    return division_code
