"""The gettext catalogues are complete: Babel extracts every message (as ``pybabel extract -F
babel.cfg`` would) and each has Chinese; context-qualified keys (enumerated values) have English
too; plurals have every form; and the helpers give what a user reads (plurals, labels, CLDR
formats of times, numbers and money in both languages)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from qianshu import capabilities
from qianshu.accounts.models import ORG_STATUSES, ORG_TYPES
from qianshu.catalog.models import DATA_TYPES, DELIVERY_MODES, DEMAND_STATUSES, LISTING_STATUSES
from qianshu.core import errors
from qianshu.core.actor import ORG_ROLES, STAFF_ROLES
from qianshu.core.http import build_templates
from qianshu.core.i18n import Label, catalogue, label, locale_folders, ngettext, pgettext, po_file, translate
from qianshu.core.jobs import JOB_STATUSES
from qianshu.core.l10n import format_datetime, format_money, format_number
from qianshu.registry import models as registry_models
from qianshu.registry.pii import PATTERNS

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
ERROR_CLASSES = sorted(name for name, obj in vars(errors).items()
                       if isinstance(obj, type) and issubclass(obj, errors.QianshuError))
# What ``pybabel extract`` is given with ``-k``: the domain errors and our helpers take a message id first.
# ``refuse`` (the sandbox's refusals) takes one first too; ``_reject``, ``bad_file``, ``Verification``
# and ``Score`` carry a message id in a known position.
KEYWORDS: dict[str, Any] = {**DEFAULT_KEYWORDS, **dict.fromkeys([*ERROR_CLASSES, "translate", "N_", "bad_file",
                                                                  "bilingual", "refuse"]),
                            "pgettext": ((1, "c"), 2), "npgettext": ((1, "c"), 2, 3), "NP_": ((1, "c"), 2),
                            "NN_": (1, 2), "_reject": (2,), "Verification": (3,), "Score": (4,)}
# Messages handed over as keyword arguments, which Babel's Python extractor does not read.
REASON = re.compile(r"\breason=\"((?:[^\"\\]|\\.)+)\"")
NAV_LABEL = re.compile(r"NavItem\(\s*\"[^\"]*\",\s*\"((?:[^\"\\]|\\.)+)\"")
# Every enumerated value a page shows through ``|label(context)``: context → the values.
ENUMERATIONS: dict[str, tuple[str, ...]] = {
    "registration status": registry_models.STATUSES,
    "registration type": registry_models.REG_TYPES,
    "data right": registry_models.RIGHTS,
    "classification": registry_models.CLASSIFICATIONS,
    "personal information": registry_models.PERSONAL_INFO,
    "data source": registry_models.SOURCES,
    "update frequency": registry_models.UPDATE_FREQUENCIES,
    "quality indicator": registry_models.QUALITY_INDICATORS,
    "report kind": registry_models.REPORT_KINDS,
    "objection status": registry_models.OBJECTION_STATUSES,
    "personal-data kind": (*PATTERNS, "name", "address", "health"),
    "organisation status": ORG_STATUSES,
    "organisation type": ORG_TYPES,
    "role": (*ORG_ROLES, *STAFF_ROLES),
    "token scope": ("read", "write"),
    "listing status": LISTING_STATUSES,
    "demand status": DEMAND_STATUSES,
    "demand response": ("submitted", "chosen", "not_chosen"),
    "data type": DATA_TYPES,
    "delivery mode": DELIVERY_MODES,
    "job status": JOB_STATUSES,
    "actor via": ("portal", "api", "cli", "system", "anonymous"),
    "log event": ("registration.issued", "registration.amended", "registration.transferred",
                  "registration.cancelled", "registration.revoked"),
    "job kind": tuple(kind for manifest in capabilities.manifests() for kind in manifest.jobs),
}

Extracted = tuple[str, int, str | tuple[str, ...], str | None]  # file, line, message, context


def extract(source: Path) -> list[Extracted]:
    with (ROOT / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found: list[Extracted] = []
    for filename, line, message, _comments, context in extract_from_dir(
            str(source), method_map, options_map, keywords=KEYWORDS):
        found.append((filename, line, message, context))
    for path in source.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for pattern in (REASON, NAV_LABEL):
            found += [(str(path.relative_to(source)), text.count("\n", 0, m.start()) + 1, m.group(1), None)
                      for m in pattern.finditer(text)]
    return found


def untranslated(found: list[Extracted]) -> list[str]:
    zh = catalogue("zh")
    missing = []
    for filename, line, message, context in found:
        if isinstance(message, tuple):
            forms = zh.plural.get((context, message[0]), ())
            ok = len(forms) == zh.nplurals and all(forms)
        else:
            ok = (context, message) in zh.singular or not re.search(r"[A-Za-z]", message)
        if not ok:
            missing.append(f"{filename}:{line}: {message!r}" + (f" (context {context!r})" if context else ""))
    return missing


@pytest.fixture(scope="module")
def messages() -> list[Extracted]:
    return extract(SRC)


def test_extraction_finds_messages_of_every_kind(messages: list[Extracted]) -> None:
    texts = {m[2] for m in messages}
    assert "Not found." in texts  # a domain error in core
    assert "Submit for review" in texts  # a template's _()
    assert ("{n} product", "{n} products") in texts  # a template's ngettext
    assert "the check character is wrong" in texts  # a reason= keyword
    assert "My registrations" in texts  # a navigation label
    assert len(messages) > 500


def test_every_message_has_chinese(messages: list[Extracted]) -> None:
    missing = untranslated(messages)
    assert not missing, (f"{len(missing)} messages without Chinese (add them to the package's "
                         f"locale/zh/LC_MESSAGES/messages.po):\n" + "\n".join(missing))


def test_a_planted_message_without_chinese_is_caught(tmp_path: Path) -> None:
    package = tmp_path / "qianshu" / "planted"
    (package / "templates" / "planted").mkdir(parents=True)
    (package / "service.py").write_text(
        'from qianshu.core.errors import InvalidInput\n\n\ndef f() -> None:\n'
        '    raise InvalidInput("A message nobody translated.", field="x")\n', encoding="utf-8")
    (package / "templates" / "planted" / "page.html").write_text(
        '<p>{{ _("Not found.") }} {{ ngettext("{n} planted thing", "{n} planted things", 2) }}</p>\n'
        '<p>{{ pgettext("registration status", "no_such_status") }}</p>\n', encoding="utf-8")
    missing = untranslated(extract(tmp_path))
    assert len(missing) == 3
    assert any("A message nobody translated." in m and "service.py:5" in m for m in missing)
    assert any("planted thing" in m for m in missing)
    assert any("no_such_status" in m and "registration status" in m for m in missing)


@pytest.mark.parametrize("context", sorted(ENUMERATIONS))
def test_every_enumerated_value_has_chinese_and_english(context: str) -> None:
    zh, en = catalogue("zh"), catalogue("en")
    missing = [f"{value}: {lang}" for value in ENUMERATIONS[context]
               for lang, table in (("zh", zh), ("en", en)) if not table.singular.get((context, value))]
    assert not missing, f"{context!r} values without a label: {missing}"


def _entries(lang: str) -> list[tuple[Path, Any]]:
    found = []
    for folder in locale_folders():
        with po_file(folder, lang).open("rb") as handle:
            found += [(folder.parent, message) for message in read_po(handle, locale=lang) if message.id]
    return found


def test_every_context_qualified_key_is_marked_for_extraction(messages: list[Extracted]) -> None:
    """Enumerated values reach pages through variables: each capability's labels.py lists them
    (``NP_``), so ``pybabel update`` keeps their entries."""
    extracted = {(context, message) for _, _, message, context in messages if context}
    in_catalogues = {(m.context, m.id) for _, m in _entries("zh") if m.context and isinstance(m.id, str)}
    assert sorted(in_catalogues - extracted) == []


def test_every_context_qualified_key_has_english_and_chinese() -> None:
    english = {(m.context, m.id if isinstance(m.id, str) else m.id[0]) for _, m in _entries("en")
               if m.context and m.string}
    chinese = {(m.context, m.id if isinstance(m.id, str) else m.id[0]) for _, m in _entries("zh")
               if m.context and m.string}
    assert sorted(chinese - english) == [], "context-qualified keys without English"
    assert sorted(english - chinese) == [], "context-qualified keys without Chinese"


@pytest.mark.parametrize(("lang", "forms"), [("zh", 1), ("en", 2)])
def test_every_plural_has_every_form(lang: str, forms: int) -> None:
    plurals = [(package.name, m) for package, m in _entries(lang) if isinstance(m.id, tuple | list)]
    assert plurals, "no plural messages found"
    broken = [f"{package}: {m.id[0]!r}" for package, m in plurals
              if len(m.string) != forms or not all(m.string)]
    assert broken == []
    other = "en" if lang == "zh" else "zh"
    assert {m.id[0] for _, m in plurals} == {m.id[0] for _, m in _entries(other) if isinstance(m.id, tuple | list)}


def test_no_message_is_translated_two_ways() -> None:
    """The packages' catalogues merge into one table: a key may not mean two things."""
    seen: dict[tuple[str | None, str], tuple[str, str]] = {}
    clashes = []
    for package, m in _entries("zh"):
        if not isinstance(m.id, str) or not m.string:
            continue
        key = (m.context, m.id)
        if key in seen and seen[key][0] != m.string:
            clashes.append(f"{key!r}: {seen[key][1]} says {seen[key][0]!r}, {package.name} says {m.string!r}")
        seen.setdefault(key, (str(m.string), package.name))
    assert not clashes, clashes


def test_every_capability_with_translations_has_both_catalogues() -> None:
    for folder in capabilities.translation_folders():
        assert po_file(folder, "zh").exists(), folder
        assert po_file(folder, "en").exists(), folder


# --- what users read ------------------------------------------------------------------------------

def test_plurals_in_both_languages() -> None:
    assert ngettext("{n} product", "{n} products", 1, "en") == "1 product"
    assert ngettext("{n} product", "{n} products", 2, "en") == "2 products"
    assert ngettext("{n} product", "{n} products", 0, "en") == "0 products"
    assert ngettext("{n} product", "{n} products", 1, "zh") == "共 1 个产品"
    assert ngettext("{n} product", "{n} products", 7, "zh") == "共 7 个产品"


def test_enumerated_values_are_labelled_by_context() -> None:
    assert pgettext("registration status", "public_notice", "zh") == "公示中"
    assert pgettext("registration status", "public_notice", "en") == "In public notice"
    # the same key means different things in different contexts
    assert label("paused", "listing status", "zh") == "已暂停"
    assert label("paused", "listing change", "zh") == "暂停"
    assert label("open", "objection status", "en") == "Undecided"
    assert label("open", "demand status", "en") == "Open"
    assert label(None, "role", "en") == ""


def test_validation_messages_do_not_mix_languages() -> None:
    error = errors.Conflict("The registration cannot be submitted while it is {status}.",
                            status=Label("registration status", "public_notice"))
    assert error.render("zh") == "登记处于“公示中”状态，不能提交。"
    assert error.render("en") == "The registration cannot be submitted while it is in public notice."
    assert str(error) == "The registration cannot be submitted while it is public_notice."  # logs keep the key
    assert translate("{field}: {reason}", "en", field="status",
                     reason=Label("listing status", "pending")) == "status: awaiting review"
    assert Label("personal-data kind", "ip_address").render("en") == "IP address"


def test_times_are_shown_in_shanghai_with_the_zone() -> None:
    moment = datetime(2026, 1, 1, 20, 5, 9, tzinfo=UTC)  # 04:05 the next day in Shanghai
    assert format_datetime(moment, "zh") == "2026年1月2日 04:05 GMT+08:00"
    # CLDR puts a narrow no-break space before AM/PM
    assert format_datetime(moment, "en") == "Jan 2, 2026, 4:05\u202fAM GMT+08:00"
    assert format_datetime(moment.replace(tzinfo=None), "en", seconds=True) == "Jan 2, 2026, 4:05:09\u202fAM GMT+08:00"
    assert format_datetime(None, "zh") == ""


def test_numbers_and_money_follow_cldr() -> None:
    assert format_number(1234567, "zh") == "1,234,567"
    assert format_number(0.5, "en", decimals=1) == "0.5"
    assert format_money(125_000, "zh") == "¥1,250.00"
    assert format_money(1_250_000_000, "zh") == "¥1,250万"
    assert format_money(2_093_784_000, "zh") == "¥2,093.78万"
    assert format_money(2_093_784_000, "zh", exact=True) == "¥20,937,840.00"  # an amount to type in
    assert format_money(32_000_000_000, "zh") == "¥3.2亿"
    assert format_money(-99_999_999, "zh") == "-¥999,999.99"
    assert format_money(125_000, "en") == "CN¥1,250.00"
    assert format_money(1_250_000_000, "en") == "CN¥12,500,000.00"
    assert format_money(None, "en") == ""


def test_jinja_gettext_follows_the_page_language(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text(
        '{{ _("Not found.") }}|{{ ngettext("{n} product", "{n} products", n) }}|'
        '{% trans count=n %}{{ count }} product{% pluralize %}{{ count }} products{% endtrans %}|'
        '{{ status|label("registration status") }}|{{ fen|money }}|{{ at|datetime }}|{{ big|number }}',
        encoding="utf-8")
    env = build_templates([tmp_path]).env
    values = {"n": 1, "status": "public_notice", "fen": 1_250_000_000, "big": 12345,
              "at": datetime(2026, 1, 1, 20, 5, tzinfo=UTC)}
    zh = env.get_template("page.html").render(lang="zh", **values)
    en = env.get_template("page.html").render(lang="en", **values)
    assert zh == "未找到。|共 1 个产品|1 product|公示中|¥1,250万|2026年1月2日 04:05 GMT+08:00|12,345"
    assert en == ("Not found.|1 product|1 product|In public notice|CN¥12,500,000.00|"
                  "Jan 2, 2026, 4:05\u202fAM GMT+08:00|12,345")
    three = env.get_template("page.html").render(lang="en", **{**values, "n": 3})
    assert three.startswith("Not found.|3 products|3 products|")


def _job_stages() -> set[str]:
    """Every stage a job reports in the source: ``progress(fraction, "stage")`` or
    ``report(fraction, "stage")`` with a literal stage (the operator's jobs page shows it)."""
    import ast

    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("progress", "report") and len(node.args) == 2
                    and isinstance(node.args[1], ast.Constant)
                    and isinstance(node.args[1].value, str)):
                found.add(node.args[1].value)
    return found


def test_every_job_stage_reads_in_both_languages() -> None:
    stages = _job_stages()
    assert {"normalise", "rules", "trades"} <= stages  # the scan finds the registry's, monitoring's and the demo's
    zh, en = catalogue("zh"), catalogue("en")
    missing = [f"{stage}: {lang}" for stage in sorted(stages)
               for lang, table in (("zh", zh), ("en", en)) if not table.singular.get(("job stage", stage))]
    assert not missing, f"job stages without a label (the jobs page would show the raw key): {missing}"
