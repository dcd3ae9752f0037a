"""The things the catalogue's linked data names, each at an address under the exchange's public
address that answers: regions (``/regions/<division code>``, GB/T 2260), industries
(``/industries/<code>``, GB/T 4754), organisations that publish products
(``/organisations/<id>``), licences (``/licences/<key>``) and the ODRL usage policy of each
pricing plan (``/catalog/<product>/plans/<plan>/policy``).

Each is described here once, as a JSON-LD node that the DCAT-AP export embeds and the address
serves (also as Turtle and as a portal page). No HTTP here: the pages are in ``resource_pages``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.catalog import policy, service
from qianshu.catalog.models import Listing
from qianshu.catalog.vocab import (
    INDUSTRY_DIVISIONS,
    INDUSTRY_SECTIONS,
    LICENCES,
    industry_name,
    licence_uri,
    prefecture_of,
    region_name,
)
from qianshu.core.actor import Actor
from qianshu.core.errors import NotFound
from qianshu.core.i18n import label, translate
from qianshu.core.identifiers import guizhou_divisions

if TYPE_CHECKING:
    from qianshu.accounts.models import Organisation

PRODUCTS_SHOWN = 100
_INDUSTRY = re.compile(r"^[A-T](\d{2})?$")


def text(zh: str, en: str) -> list[dict[str, str]]:
    """A bilingual literal: one value per language that has one."""
    return [{"@value": v, "@language": lang} for v, lang in ((zh, "zh"), (en, "en")) if v]


@dataclass
class Resource:
    """One linked-data resource: its node and what its page lists."""

    node: dict[str, Any]
    title: str
    kind: str  # English message id: "Region", "Industry", ...
    facts: list[tuple[str, str, str]] = field(default_factory=list)  # (label message id, value, link)
    products: list[Listing] = field(default_factory=list)


# --- regions ---------------------------------------------------------------------------------------


def region_uri(base: str, code: str) -> str:
    return f"{base}/regions/{code}"


def region_node(base: str, code: str) -> dict[str, Any]:
    node: dict[str, Any] = {
        "@id": region_uri(base, code),
        "@type": ["dct:Location", "skos:Concept"],
        "skos:prefLabel": text(region_name(code, "zh"), _english_region(code)),
        "skos:notation": code,
    }
    parent = _parent_region(code)
    if parent:
        node["skos:broader"] = {"@id": region_uri(base, parent)}
    return node


def _english_region(code: str) -> str:
    name = region_name(code, "en")
    return "" if name == region_name(code, "zh") else name  # no English name: no @en value


def _parent_region(code: str) -> str:
    if code == "520000":
        return ""
    prefecture = prefecture_of(code)
    return prefecture if prefecture != code else "520000"


def region(db: Session, base: str, code: str, lang: str) -> Resource:
    if code not in guizhou_divisions():
        raise NotFound("No such region.")
    stmt = select(Listing).where(Listing.status == "listed")
    if code != "520000":
        stmt = stmt.where(or_(Listing.division_code == code, Listing.prefecture_code == code))
    facts = [("Division code (GB/T 2260)", code, "")]
    if parent := _parent_region(code):
        facts.append(("Part of", region_name(parent, lang), region_uri("", parent)))
    return Resource(region_node(base, code), region_name(code, lang), "Region", facts, _products(db, stmt))


# --- industries ------------------------------------------------------------------------------------


def industry_uri(base: str, code: str) -> str:
    return f"{base}/industries/{code}"


def industry_node(base: str, code: str) -> dict[str, Any]:
    node: dict[str, Any] = {
        "@id": industry_uri(base, code),
        "@type": "skos:Concept",
        "skos:prefLabel": text(industry_name(code, "zh"), industry_name(code, "en")),
        "skos:notation": code,
    }
    if len(code) > 1:
        node["skos:broader"] = {"@id": industry_uri(base, code[:1])}
    return node


def industry(db: Session, base: str, code: str, lang: str) -> Resource:
    if not _INDUSTRY.match(code) or code[:1] not in INDUSTRY_SECTIONS:
        raise NotFound("No such industry.")
    column = Listing.industry_section if len(code) == 1 else Listing.industry_code
    stmt = select(Listing).where(Listing.status == "listed", column == code)
    facts = [("Industry code (GB/T 4754)", code, "")]
    if len(code) > 1:
        facts.append(("Part of", industry_name(code[:1], lang), industry_uri("", code[:1])))
    title = industry_name(code, lang) if code in INDUSTRY_DIVISIONS or len(code) == 1 else code
    return Resource(industry_node(base, code), title, "Industry", facts, _products(db, stmt))


# --- organisations ---------------------------------------------------------------------------------


def organisation_uri(base: str, org_id: int) -> str:
    return f"{base}/organisations/{org_id}"


def organisation_node(base: str, org: Organisation) -> dict[str, Any]:
    return {
        "@id": organisation_uri(base, org.id),
        "@type": ["foaf:Agent", "foaf:Organization"],
        "foaf:name": text(org.name, org.name_en),
        "dct:spatial": {"@id": region_uri(base, org.division_code)} if org.division_code in guizhou_divisions()
        else None,
    }


def organisation(db: Session, base: str, org_id: int, lang: str) -> Resource:
    """An approved organisation's public facts (no contact details) and its listed products."""
    try:
        org = accounts.organisation_by_id(db, org_id)
    except NotFound:
        org = None
    if org is None or org.status != "approved":
        raise NotFound("Organisation not found.", code="organisation_not_found")
    node = {k: v for k, v in organisation_node(base, org).items() if v is not None}
    name = (org.name_en or org.name) if lang == "en" else org.name
    facts = [("Organisation type", label(org.org_type, "organisation type", lang), "")]
    if org.division_code in guizhou_divisions():
        facts.append(("Region", region_name(org.division_code, lang), region_uri("", org.division_code)))
    products = _products(db, select(Listing).where(Listing.status == "listed", Listing.org_id == org.id))
    return Resource(node, name, "Organisation", facts, products)


# --- licences ---------------------------------------------------------------------------------------


def licence_node(base: str, key: str) -> dict[str, Any]:
    licence = LICENCES[key]
    return {
        "@id": licence_uri(key, base),
        "@type": "dct:LicenseDocument",
        "dct:title": text(translate(licence.title, "zh"), licence.title),
        "dct:description": text(translate(licence.summary, "zh"), licence.summary),
    }


def licence(base: str, key: str, lang: str) -> Resource:
    if key not in LICENCES:
        raise NotFound("No such licence.")
    item = LICENCES[key]
    uri = licence_uri(key, base)
    facts = [("Summary", translate(item.summary, lang), ""), ("Address", uri, uri)]
    if item.spdx:
        facts.append(("SPDX identifier", item.spdx, ""))
    return Resource(licence_node(base, key), translate(item.title, lang), "Licence", facts)


# --- usage policies ---------------------------------------------------------------------------------


def plan_policy(db: Session, actor: Actor, base: str, listing_id: int, plan_id: int) -> dict[str, Any]:
    """The ODRL policy of a plan (withdrawn plans too: contracts signed under them refer to it)."""
    listing = service.get_listing(db, actor, listing_id)
    plan = next((p for p in listing.plans if p.id == plan_id), None)
    if plan is None:
        raise NotFound("No such pricing plan.")
    return policy.policy_document(plan.policy, base, listing.id, plan.id, listing.org_id)


def _products(db: Session, stmt: Any) -> list[Listing]:
    return list(db.scalars(stmt.order_by(Listing.popularity.desc(), Listing.id.desc()).limit(PRODUCTS_SHOWN)))
