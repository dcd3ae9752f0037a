"""Move ``zh.toml`` translations into each package's gettext catalogues, and seed the catalogues'
message contexts (enumerated values) and plural forms.

    python scripts/toml_to_po.py            # every src/qianshu/*/zh.toml, then the file is removed
    python scripts/toml_to_po.py --keep     # leave the zh.toml files in place

For every ``src/qianshu/<package>/zh.toml`` it merges the ``"English" = "中文"`` pairs into
``<package>/locale/zh/LC_MESSAGES/messages.po`` (the TOML wins where both have the message; every
other entry of the catalogue is kept) and adds each English message id, untranslated, to
``<package>/locale/en/LC_MESSAGES/messages.po``. It is idempotent: run it again after merging a
branch that still added lines to a ``zh.toml``. Context and plural entries below are added only
where the catalogue lacks them, so a translator's later edits are never overwritten.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "qianshu"
LANGS = ("zh", "en")

# Enumerated values, translated by message context: package → context → value → English.
# The Chinese comes from the package's flat entry for the value (or, failing that, for the English).
ENUMS: dict[str, dict[str, dict[str, str]]] = {
    "accounts": {
        "organisation status": {"pending": "Pending review", "approved": "Approved", "rejected": "Rejected",
                                "suspended": "Suspended"},
        "role": {"admin": "Administrator", "member": "Member", "operator": "Operator", "reviewer": "Reviewer",
                 "auditor": "Auditor"},
        "organisation type": {"data_merchant": "Data merchant", "buyer": "Buyer",
                              "service_provider": "Service provider", "bank": "Bank",
                              "government": "Government department", "exchange_operator": "Exchange operator"},
        "token scope": {"read": "read", "write": "write"},
    },
    "registry": {
        "registration status": {
            "draft": "Draft", "processing": "Processing", "failed": "Processing failed", "ready": "Ready to submit",
            "submitted": "Submitted", "under_review": "Under review", "returned": "Returned for changes",
            "public_notice": "In public notice", "issued": "Issued", "rejected": "Rejected", "revoked": "Revoked",
            "superseded": "Superseded", "transferred": "Transferred", "cancelled": "Cancelled",
            "withdrawn": "Withdrawn"},
        "registration type": {"initial": "Initial registration", "change": "Change registration",
                              "transfer": "Transfer registration", "renewal": "Renewal registration",
                              "cancellation": "Cancellation registration"},
        "data right": {"holding": "Right to hold the data resource", "processing_use": "Right to process and use",
                       "operation": "Right to operate the data product"},
        "classification": {"general": "General data", "important": "Important data", "core": "Core data"},
        "personal information": {"none": "No personal information", "personal": "Personal information",
                                 "sensitive": "Sensitive personal information"},
        "personal-data kind": {
            "resident_id": "Resident ID number", "bank_card": "Bank card number", "mobile": "Mobile number",
            "landline": "Landline number", "email": "E-mail address", "uscc": "Unified Social Credit Code",
            "passport": "Passport number", "licence_plate": "Licence plate", "ip_address": "IP address",
            "name": "Person's name", "address": "Address", "health": "Health information"},
        "data source": {"own_collection": "Own collection", "authorised": "Authorised by the data subjects",
                        "public_data": "Public data", "purchased": "Purchased"},
        "update frequency": {"once": "One-off", "realtime": "Real time", "daily": "Daily", "weekly": "Weekly",
                             "monthly": "Monthly", "quarterly": "Quarterly", "yearly": "Yearly"},
        "quality indicator": {"normativity": "Normativity", "completeness": "Completeness", "accuracy": "Accuracy",
                              "consistency": "Consistency", "timeliness": "Timeliness",
                              "accessibility": "Accessibility"},
        "report kind": {"compliance": "Compliance assessment", "quality": "Quality assessment",
                        "appraisal": "Asset appraisal"},
        "objection status": {"open": "Undecided", "upheld": "Upheld", "dismissed": "Dismissed"},
    },
    "catalog": {
        "listing status": {"draft": "Draft", "pending": "Awaiting review", "listed": "Listed",
                           "rejected": "Rejected", "paused": "Paused", "delisted": "Delisted"},
        "demand status": {"open": "Open", "awarded": "Awarded", "closed": "Closed"},
        "demand response": {"submitted": "Submitted", "chosen": "Chosen", "not_chosen": "Not chosen"},
        "listing change": {"created": "Created", "updated": "Updated", "submitted": "Submitted for review",
                           "listed": "Listed", "rejected": "Rejected", "paused": "Paused", "resumed": "Resumed",
                           "delisted": "Delisted", "plan_added": "Plan added", "plan_withdrawn": "Plan withdrawn"},
        "data type": {"table": "Tables", "time_series": "Time series", "geospatial": "Geospatial", "text": "Text",
                      "media": "Images and media"},
        "delivery mode": {"download": "File download", "delta_sharing": "Delta Sharing", "api": "Data API",
                          "sandbox": "Sandbox (usable but not visible)"},
    },
}
# Chinese for context entries whose flat entry is missing or means something else.
ENUM_ZH: dict[tuple[str, str], str] = {
    ("objection status", "open"): "待处理",
    ("registration status", "issued"): "已发证",
    ("demand status", "open"): "开放",
    ("personal-data kind", "name"): "姓名",
}
# Contexts whose values the pages used to show through an English label ("Paused" → 已暂停, where
# the bare value "paused" → 暂停 names the action): their Chinese comes from the label first.
SHOWN_BY_ENGLISH_LABEL = {"listing status", "data type", "delivery mode", "organisation type"}
# Plural messages: package → (singular, plural) ids; the Chinese comes from the plural's flat entry.
PLURALS: dict[str, list[tuple[str, str]]] = {
    "catalog": [("{n} product", "{n} products"), ("{n} open demand", "{n} open demands")],
    "accounts": [("{total} event", "{total} events")],
}


def po_path(package: Path, lang: str) -> Path:
    return package / "locale" / lang / "LC_MESSAGES" / "messages.po"


def load(package: Path, lang: str) -> Catalog:
    path = po_path(package, lang)
    if path.exists():
        with path.open("rb") as handle:
            return read_po(handle, locale=lang)
    header = (f"# {package.name}: {'Chinese' if lang == 'zh' else 'English'} texts of Qianshu's messages.\n"
              "# The English text is the message id; see docs/architecture.md (i18n) for the workflow.\n#")
    return Catalog(locale=lang, domain="messages", project="qianshu", version="1", charset="utf-8",
                   fuzzy=False, header_comment=header, msgid_bugs_address="", language_team="")


def save(catalog: Catalog, package: Path, lang: str) -> None:
    path = po_path(package, lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=0, omit_header=False, include_previous=False)


def convert(package: Path, *, keep: bool = False) -> list[str]:
    """Merge ``package/zh.toml`` (if any) and the seeds above into the package's catalogues.

    Returns warnings (a context or plural entry whose Chinese could not be found)."""
    zh, en = load(package, "zh"), load(package, "en")
    toml = package / "zh.toml"
    flat: dict[str, str] = {}
    if toml.exists():
        flat = tomllib.loads(toml.read_text(encoding="utf-8"))
    for message in zh:
        if message.id and not message.context and isinstance(message.id, str) and message.string:
            flat.setdefault(message.id, str(message.string))
    for key, value in tomllib.loads(toml.read_text(encoding="utf-8")).items() if toml.exists() else ():
        zh.add(key, value)
        if en.get(key) is None:
            en.add(key, "")
    warnings: list[str] = []
    for context, values in ENUMS.get(package.name, {}).items():
        for value, english in values.items():
            first, second = (english, value) if context in SHOWN_BY_ENGLISH_LABEL else (value, english)
            chinese = ENUM_ZH.get((context, value)) or flat.get(first) or flat.get(second)
            if zh.get(value, context=context) is None:
                if chinese is None:
                    warnings.append(f"{package.name}: no Chinese for {context!r} {value!r}")
                    continue
                zh.add(value, chinese, context=context)
            if en.get(value, context=context) is None:
                en.add(value, english, context=context)
    for singular, plural in PLURALS.get(package.name, []):
        if zh.get(singular) is None:
            chinese = flat.get(plural)
            if chinese is None:
                warnings.append(f"{package.name}: no Chinese for plural {plural!r}")
                continue
            zh.add((singular, plural), (chinese,))
        if en.get(singular) is None:
            en.add((singular, plural), (singular, plural))
    if toml.exists() or any(po_path(package, lang).exists() for lang in LANGS) or len(zh):
        save(zh, package, "zh")
        save(en, package, "en")
    if toml.exists() and not keep:
        toml.unlink()
    return warnings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="leave the zh.toml files in place")
    args = parser.parse_args(argv)
    packages = sorted({p.parent for p in SRC.glob("*/zh.toml")} | {p.parents[1] for p in SRC.glob("*/locale/zh")}
                      | {SRC / name for name in ENUMS})
    warnings = [w for package in packages for w in convert(package, keep=args.keep)]
    for warning in warnings:
        print(warning, file=sys.stderr)
    return 1 if warnings else 0


if __name__ == "__main__":
    sys.exit(main())
