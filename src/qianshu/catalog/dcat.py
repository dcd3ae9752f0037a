"""The public catalogue as DCAT-AP 3: JSON-LD (built here, with an inline context so that no
harvester needs the internet) and Turtle (the same graph, serialised by rdflib).

Each listed product is a ``dcat:Dataset`` with titles, descriptions and keywords tagged
``@zh`` / ``@en``, its publisher, region (``dct:spatial``), update frequency (EU frequency
authority), landing page and one ``dcat:Distribution`` per delivery mode, each carrying the
ODRL policies of the plans that offer that mode. Large catalogues are paged
(``?page=``, ``PAGE_SIZE`` datasets each, with ``hydra`` paging links).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rdflib import Graph
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.catalog import policy
from qianshu.catalog.models import Listing, PricingPlan
from qianshu.catalog.vocab import DELIVERY_LABELS, PREFECTURES_EN, industry_name, region_name
from qianshu.core.i18n import translate

if TYPE_CHECKING:
    from qianshu.accounts.models import Organisation

PAGE_SIZE = 1000
FREQUENCY = "http://publications.europa.eu/resource/authority/frequency/"
FREQUENCIES = {
    "once": "NEVER",
    "realtime": "CONT",
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "monthly": "MONTHLY",
    "quarterly": "QUARTERLY",
    "yearly": "ANNUAL",
}
MEDIA_TYPES = {
    "download": "application/vnd.apache.parquet",
    "delta_sharing": "application/json",
    "api": "application/json",
    "sandbox": "text/html",
}
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


def _text(zh: str, en: str) -> list[dict[str, str]]:
    return [{"@value": v, "@language": lang} for v, lang in ((zh, "zh"), (en, "en")) if v]


def _date(value: Any) -> dict[str, str] | None:
    return {"@value": value.isoformat(), "@type": "xsd:dateTime"} if value else None


def _policy_node(plan: PricingPlan) -> dict[str, Any]:
    terms = policy.terms_from_odrl(plan.policy)
    return {
        "@id": str(plan.policy.get("uid") or f"_:policy{plan.id}"),
        "@type": "odrl:Offer",
        "dct:description": _text(" ".join(policy.describe(terms, "zh")), " ".join(policy.describe(terms, "en"))),
    }


def dataset_node(listing: Listing, base: str, publisher: Organisation | None) -> dict[str, Any]:
    url = f"{base}/catalog/{listing.id}"
    plans = [p for p in listing.plans if p.active]
    distributions = []
    for mode in listing.delivery_modes:
        distributions.append(
            {
                "@id": f"{url}#distribution-{mode}",
                "@type": "dcat:Distribution",
                "dct:title": _text(translate(DELIVERY_LABELS[mode], "zh"), DELIVERY_LABELS[mode]),
                "dcat:accessURL": {"@id": url},
                "dcat:mediaType": {"@id": "https://www.iana.org/assignments/media-types/" + MEDIA_TYPES[mode]},
                "odrl:hasPolicy": [_policy_node(p) for p in plans if mode in p.delivery_modes],
            }
        )
    node: dict[str, Any] = {
        "@id": url,
        "@type": "dcat:Dataset",
        "dct:identifier": str(listing.id),
        "dct:title": _text(listing.title_zh, listing.title_en),
        "dct:description": _text(listing.description_zh, listing.description_en),
        "dcat:keyword": [{"@value": t, "@language": "zh" if not t.isascii() else "en"} for t in listing.tags],
        "dcat:landingPage": {"@id": url},
        "dct:spatial": {
            "@id": f"{base}/regions/{listing.division_code}",
            "skos:prefLabel": _text(
                region_name(listing.division_code, "zh"), PREFECTURES_EN.get(listing.division_code, "")
            ),
        },
        "dcat:theme": {
            "@id": f"{base}/industries/{listing.industry_code}",
            "skos:prefLabel": _text(
                industry_name(listing.industry_code, "zh"), industry_name(listing.industry_code, "en")
            ),
        },
        "dcat:distribution": distributions,
        "adms:identifier": {"skos:notation": f"registration:{listing.registration_id}"},
    }
    if listing.update_frequency in FREQUENCIES:
        node["dct:accrualPeriodicity"] = {"@id": FREQUENCY + FREQUENCIES[listing.update_frequency]}
    if (issued := _date(listing.listed_at)) is not None:
        node["dct:issued"] = issued
    if (modified := _date(listing.updated_at)) is not None:
        node["dct:modified"] = modified
    if publisher is not None:
        node["dct:publisher"] = {
            "@id": f"{base}/organisations/{publisher.id}",
            "@type": "foaf:Agent",
            "foaf:name": _text(publisher.name, publisher.name_en),
        }
    return node


def catalogue_jsonld(db: Session, base: str, page: int = 1, listing_id: int | None = None) -> dict[str, Any]:
    """The catalogue (one page of it), or a single product when ``listing_id`` is given."""
    stmt = select(Listing).where(Listing.status == "listed")
    if listing_id is not None:
        stmt = stmt.where(Listing.id == listing_id)
    listings = list(db.scalars(stmt.order_by(Listing.id).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    orgs = (
        accounts.organisations_by_id(db, {x.org_id for x in listings})
        if listings
        else {}
    )
    datasets = [dataset_node(x, base, orgs.get(x.org_id)) for x in listings]
    if listing_id is not None:
        return {"@context": CONTEXT, **datasets[0]} if datasets else {}
    total = int(db.scalar(select(func.count()).select_from(Listing).where(Listing.status == "listed")) or 0)
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "@id": f"{base}/catalog",
        "@type": "dcat:Catalog",
        "dct:title": _text("黔数数据交易所数据产品目录", "Qianshu Data Exchange product catalogue"),
        "dct:description": _text(
            "在黔数数据交易所挂牌的数据产品。", "Data products listed on the Qianshu data exchange."
        ),
        "dct:publisher": {
            "@id": f"{base}/",
            "@type": "foaf:Agent",
            "foaf:name": _text("黔数数据交易所", "Qianshu Data Exchange"),
        },
        "dct:language": [
            {"@id": "http://publications.europa.eu/resource/authority/language/ZHO"},
            {"@id": "http://publications.europa.eu/resource/authority/language/ENG"},
        ],
        "foaf:homepage": {"@id": f"{base}/catalog"},
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
