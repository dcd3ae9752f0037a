"""The public catalogue as DCAT-AP 3.0.1: JSON-LD (built here, with an inline context so that no
harvester needs the internet) and Turtle (the same graph, serialised by rdflib).

Each listed product is a ``dcat:Dataset`` with titles, descriptions and keywords tagged
``@zh`` / ``@en``, its publisher and contact point, region (``dct:spatial``), industry
(``dcat:theme``), time coverage (``dct:temporal``), update frequency (EU frequency authority),
access rights (EU access-right authority), landing page and one ``dcat:Distribution`` per plan
and delivery mode, each with its licence, format (EU file types), media type (IANA) and the
plan's ODRL policy (DCAT-AP allows one per distribution). Every linked value carries the class DCAT-AP
declares for it (the range shapes), and every address under the exchange's public address
answers (:mod:`qianshu.catalog.resources`). Large catalogues are paged (``?page=``,
``PAGE_SIZE`` datasets each, with ``hydra`` paging links).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from rdflib import Graph
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.catalog import policy
from qianshu.catalog.models import Listing, PricingPlan
from qianshu.catalog.resources import (
    industry_node,
    licence_node,
    organisation_node,
    organisation_uri,
    region_node,
    text,
)
from qianshu.catalog.vocab import (
    ACCESS_RIGHTS,
    DEFAULT_LICENCE,
    DELIVERY_LABELS,
    EU_AUTHORITY,
    FILE_TYPES,
    LICENCES,
    industry_name,
    region_name,
)
from qianshu.core.i18n import translate
from qianshu.registry import service as registry

if TYPE_CHECKING:
    from qianshu.accounts.models import Organisation
    from qianshu.registry.models import Registration

PAGE_SIZE = 1000
FREQUENCY = EU_AUTHORITY + "frequency/"
FREQUENCIES = {
    "once": "NEVER",
    "realtime": "CONT",
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "monthly": "MONTHLY",
    "quarterly": "QUARTERLY",
    "yearly": "ANNUAL",
}
IANA = "https://www.iana.org/assignments/media-types/"
FILE_TYPE = EU_AUTHORITY + "file-type/"
LANGUAGES = [
    {"@id": EU_AUTHORITY + "language/ZHO", "@type": "dct:LinguisticSystem"},
    {"@id": EU_AUTHORITY + "language/ENG", "@type": "dct:LinguisticSystem"},
]
CONTEXT: dict[str, Any] = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "odrl": "http://www.w3.org/ns/odrl/2/",
    "hydra": "http://www.w3.org/ns/hydra/core#",
    "adms": "http://www.w3.org/ns/adms#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
}


def _date_time(value: datetime | None) -> dict[str, str] | None:
    if value is None:
        return None
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)  # stored in UTC
    return {"@value": moment.isoformat().replace("+00:00", "Z"), "@type": "xsd:dateTime"}


def _date(value: date | None) -> dict[str, str] | None:
    return {"@value": value.isoformat(), "@type": "xsd:date"} if value else None


def exchange_node(base: str) -> dict[str, Any]:
    """The exchange itself: publisher of the catalogue, issuer of registration numbers."""
    return {"@id": f"{base}/", "@type": "foaf:Agent", "foaf:name": text("黔数数据交易所", "Qianshu Data Exchange")}


def _policy_node(base: str, listing: Listing, plan: PricingPlan) -> dict[str, Any]:
    terms = policy.terms_from_odrl(plan.policy)
    return {
        "@id": policy.policy_uri(base, listing.id, plan.id),
        "@type": ["odrl:Offer", "odrl:Policy"],
        "dct:description": text(" ".join(policy.describe(terms, "zh")), " ".join(policy.describe(terms, "en"))),
    }


def _distribution(base: str, listing: Listing, plan: PricingPlan, mode: str) -> dict[str, Any]:
    """One way to receive the data under one plan: DCAT-AP gives a distribution one policy at most."""
    url = f"{base}/catalog/{listing.id}"
    file_type, media_type = FILE_TYPES[mode]
    name_zh = plan.name_zh or plan.name_en
    name_en = plan.name_en or plan.name_zh
    title_zh = translate(DELIVERY_LABELS[mode], "zh") + (f"（{name_zh}）" if name_zh else "")
    title_en = DELIVERY_LABELS[mode] + (f" ({name_en})" if name_en else "")
    return {
        "@id": f"{url}#plan-{plan.id}-{mode}",
        "@type": "dcat:Distribution",
        "dct:title": text(title_zh, title_en),
        "dcat:accessURL": {"@id": url},
        "dcat:mediaType": {"@id": IANA + media_type, "@type": "dct:MediaType"},
        "dct:format": {"@id": FILE_TYPE + file_type, "@type": "dct:MediaTypeOrExtent"},
        "dct:license": licence_node(base, listing.licence if listing.licence in LICENCES else DEFAULT_LICENCE),
        "odrl:hasPolicy": _policy_node(base, listing, plan),
    }


def _contact_point(base: str, publisher: Organisation) -> dict[str, Any]:
    """The publisher's public page: no person's e-mail or telephone goes into the public catalogue."""
    page = organisation_uri(base, publisher.id)
    return {
        "@id": f"{page}#contact",
        "@type": ["vcard:Kind", "vcard:Organization"],
        "vcard:fn": text(publisher.name, publisher.name_en),
        "vcard:hasURL": {"@id": page},
    }


def dataset_node(
    listing: Listing, base: str, publisher: Organisation | None, registration: Registration | None = None
) -> dict[str, Any]:
    url = f"{base}/catalog/{listing.id}"
    plans = [p for p in listing.plans if p.active]
    title_zh, title_en = listing.title_zh, listing.title_en
    description_zh = listing.description_zh or title_zh  # dct:description is mandatory
    description_en = listing.description_en or (title_en if not description_zh else "")
    node: dict[str, Any] = {
        "@id": url,
        "@type": "dcat:Dataset",
        "dct:identifier": str(listing.id),
        "dct:title": text(title_zh, title_en),
        "dct:description": text(description_zh, description_en),
        "dcat:keyword": _keywords(listing),
        "dcat:landingPage": {"@id": url, "@type": "foaf:Document"},
        "dct:language": LANGUAGES,
        "dct:accessRights": {"@id": ACCESS_RIGHTS, "@type": "dct:RightsStatement"},
        "dcat:distribution": [
            _distribution(base, listing, plan, mode) for plan in plans for mode in dict.fromkeys(plan.delivery_modes)
        ],
    }
    if listing.division_code:
        node["dct:spatial"] = region_node(base, listing.division_code)
    if listing.industry_code:
        node["dcat:theme"] = industry_node(base, listing.industry_code)
    if listing.update_frequency in FREQUENCIES:
        node["dct:accrualPeriodicity"] = {
            "@id": FREQUENCY + FREQUENCIES[listing.update_frequency], "@type": "dct:Frequency"
        }
    if (issued := _date_time(listing.listed_at)) is not None:
        node["dct:issued"] = issued
    if (modified := _date_time(listing.updated_at)) is not None:
        node["dct:modified"] = modified
    if publisher is not None:
        node["dct:publisher"] = organisation_node(base, publisher)
        node["dcat:contactPoint"] = _contact_point(base, publisher)
    if registration is not None:
        if registration.number:
            node["adms:identifier"] = {
                "@type": "adms:Identifier",
                "skos:notation": registration.number,
                "dct:creator": exchange_node(base),
            }
        start, end = _date(registration.time_coverage_start), _date(registration.time_coverage_end)
        if start or end:
            period: dict[str, Any] = {"@type": "dct:PeriodOfTime"}
            if start:
                period["dcat:startDate"] = start
            if end:
                period["dcat:endDate"] = end
            node["dct:temporal"] = period
    return _without_none(node)


def _keywords(listing: Listing) -> list[dict[str, str]]:
    """The holder's tags; without any, the product's industry and region names (a recommended property)."""
    if listing.tags:
        return [{"@value": t, "@language": "zh" if not t.isascii() else "en"} for t in listing.tags]
    words: list[dict[str, str]] = []
    for code, name in ((listing.industry_code, industry_name), (listing.division_code, region_name)):
        if code:
            zh, en = name(code, "zh"), name(code, "en")
            words += text(zh, en if en != zh else "")
    return words


def _without_none(node: dict[str, Any]) -> dict[str, Any]:
    return {k: (_without_none(v) if isinstance(v, dict) else v) for k, v in node.items() if v is not None}


def catalogue_jsonld(db: Session, base: str, page: int = 1, listing_id: int | None = None) -> dict[str, Any]:
    """The catalogue (one page of it), or a single product when ``listing_id`` is given."""
    stmt = select(Listing).where(Listing.status == "listed")
    if listing_id is not None:
        stmt = stmt.where(Listing.id == listing_id)
    listings = list(db.scalars(stmt.order_by(Listing.id).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    orgs = accounts.organisations_by_id(db, {x.org_id for x in listings})
    registrations = registry.registrations_by_id(db, {x.registration_id for x in listings})
    datasets = [dataset_node(x, base, orgs.get(x.org_id), registrations.get(x.registration_id)) for x in listings]
    if listing_id is not None:
        return {"@context": CONTEXT, **datasets[0]} if datasets else {}
    total = int(db.scalar(select(func.count()).select_from(Listing).where(Listing.status == "listed")) or 0)
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "@id": f"{base}/catalog",
        "@type": "dcat:Catalog",
        "dct:title": text("黔数数据交易所数据产品目录", "Qianshu Data Exchange product catalogue"),
        "dct:description": text(
            "在黔数数据交易所挂牌的数据产品。", "Data products listed on the Qianshu data exchange."
        ),
        "dct:publisher": exchange_node(base),
        "dct:language": LANGUAGES,
        "foaf:homepage": {"@id": f"{base}/catalog", "@type": "foaf:Document"},
        "dcat:dataset": datasets,
    }
    last = max(1, -(-total // PAGE_SIZE))
    if last > 1:
        view: dict[str, Any] = {
            "@id": f"{base}/api/v1/catalog/dcat.jsonld?page={page}",
            "@type": "hydra:PartialCollectionView",
            "hydra:first": {"@id": f"{base}/api/v1/catalog/dcat.jsonld?page=1"},
            "hydra:last": {"@id": f"{base}/api/v1/catalog/dcat.jsonld?page={last}"},
        }
        if page < last:
            view["hydra:next"] = {"@id": f"{base}/api/v1/catalog/dcat.jsonld?page={page + 1}"}
        doc["hydra:view"] = view
    return doc


def to_turtle(doc: dict[str, Any]) -> str:
    graph = Graph()
    if doc:
        graph.parse(data=json.dumps(doc), format="json-ld")
    for prefix, iri in CONTEXT.items():
        graph.bind(prefix, iri)
    return graph.serialize(format="turtle")
