"""Names for facet values: industries and regions (core/vocabulary.py, shared with the registry's
pages), and the labels of the catalogue's own enumerations. English strings are message ids
(see zh.toml)."""

from __future__ import annotations

from dataclasses import dataclass

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


# --- linked-data vocabularies (DCAT-AP 3) ---------------------------------------------------------

EU_AUTHORITY = "http://publications.europa.eu/resource/authority/"


@dataclass(frozen=True)
class Licence:
    """A licence a product may be listed under. ``uri`` is absolute, or a path under the exchange's
    public address (our own licence, served at ``/licences/<key>``)."""

    key: str
    title: str  # English; Chinese through the catalogue
    uri: str
    summary: str  # English; Chinese through the catalogue
    spdx: str = ""


LICENCES = {
    licence.key: licence
    for licence in (
        Licence(
            "qianshu-exchange-1.0",
            "Qianshu data exchange licence 1.0",
            "/licences/qianshu-exchange-1.0",
            "Use as the contract and the chosen plan's usage policy permit; no other right is granted.",
        ),
        Licence(
            "cc-by-4.0",
            "Creative Commons Attribution 4.0 (CC BY 4.0)",
            EU_AUTHORITY + "licence/CC_BY_4_0",
            "Any use, including commercial use, with credit to the data holder.",
            "CC-BY-4.0",
        ),
        Licence(
            "cc-by-nc-4.0",
            "Creative Commons Attribution-NonCommercial 4.0 (CC BY-NC 4.0)",
            EU_AUTHORITY + "licence/CC_BY_NC_4_0",
            "Non-commercial use only, with credit to the data holder.",
            "CC-BY-NC-4.0",
        ),
    )
}
DEFAULT_LICENCE = "qianshu-exchange-1.0"
# Access to a product goes through an order and a contract: "restricted" in the EU vocabulary.
ACCESS_RIGHTS = EU_AUTHORITY + "access-right/RESTRICTED"
# Delivery mode → (EU file type, IANA media type) of its distribution.
FILE_TYPES = {
    "download": ("PARQUET", "application/vnd.apache.parquet"),
    "delta_sharing": ("JSON", "application/json"),
    "api": ("JSON", "application/json"),
    "sandbox": ("HTML", "text/html"),
}


def licence_uri(key: str, base: str) -> str:
    uri = LICENCES[key].uri if key in LICENCES else LICENCES[DEFAULT_LICENCE].uri
    return base + uri if uri.startswith("/") else uri
