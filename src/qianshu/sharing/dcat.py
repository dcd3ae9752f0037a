"""The government data resource catalogue as DCAT-AP 3.0.1, in the same form as the exchange's
(catalog/dcat.py, whose context, languages, frequencies, bilingual literals, organisation nodes
and Turtle serialiser it reuses): each published resource is a ``dcat:Dataset`` with its
department as publisher, its update frequency, its access right (unconditional and conditional:
restricted to government; not shared: non-public), its fields as keywords one CSV
distribution (the feed) for resources that are shared, the department's region, the theme
"state organs" (GB/T 4754 S92) and, once files are published, the period their data covers.

No licence is given: government data is shared under the conditions of its resource, not under a
public licence, so the SHACL shapes' recommendation of ``dct:license`` is left as a warning (as
are a distribution for a resource that is not shared, and a period before any file exists)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.catalog.dcat import CONTEXT, FREQUENCIES, FREQUENCY, IANA, LANGUAGES, to_turtle
from qianshu.catalog.resources import industry_node, organisation_node, organisation_uri, region_node, text
from qianshu.catalog.vocab import EU_AUTHORITY
from qianshu.core.actor import Actor
from qianshu.sharing import service
from qianshu.sharing.models import SharingResource

__all__ = ["catalogue_jsonld", "to_turtle"]
ACCESS_RIGHT = {"unconditional": "RESTRICTED", "conditional": "RESTRICTED", "not_shared": "NON_PUBLIC"}


def _moment(value: datetime | None) -> dict[str, str] | None:
    if value is None:
        return None
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return {"@value": moment.isoformat().replace("+00:00", "Z"), "@type": "xsd:dateTime"}


def resource_uri(base: str, resource_id: int) -> str:
    return f"{base}/sharing/resources/{resource_id}"


THEME = "S92"  # GB/T 4754: state organs


def dataset_node(base: str, r: SharingResource, publisher: Any,
                 coverage: tuple[date, date] | None = None) -> dict[str, Any]:
    url = resource_uri(base, r.id)
    node: dict[str, Any] = {
        "@id": url,
        "@type": "dcat:Dataset",
        "dct:identifier": r.code,
        "dct:title": text(r.name_zh, r.name_en),
        "dct:description": text(r.description_zh or r.name_zh, r.description_en),
        "dcat:keyword": [{"@value": str(f["name"]), "@language": "en"} for f in r.fields],
        "dcat:landingPage": {"@id": url, "@type": "foaf:Document"},
        "dct:language": LANGUAGES,
        "dct:accessRights": {"@id": EU_AUTHORITY + "access-right/" + ACCESS_RIGHT[r.sharing_class],
                             "@type": "dct:RightsStatement"},
    }
    node["dcat:theme"] = industry_node(base, THEME)
    if coverage is not None:
        node["dct:temporal"] = {"@type": "dct:PeriodOfTime",
                                "dcat:startDate": {"@value": coverage[0].isoformat(), "@type": "xsd:date"},
                                "dcat:endDate": {"@value": coverage[1].isoformat(), "@type": "xsd:date"}}
    if r.update_frequency in FREQUENCIES:
        node["dct:accrualPeriodicity"] = {"@id": FREQUENCY + FREQUENCIES[r.update_frequency],
                                          "@type": "dct:Frequency"}
    if (issued := _moment(r.created_at)) is not None:
        node["dct:issued"] = issued
    if (modified := _moment(r.updated_at)) is not None:
        node["dct:modified"] = modified
    if publisher is not None:
        node["dct:spatial"] = region_node(base, publisher.division_code)
        page = organisation_uri(base, publisher.id)
        node["dct:publisher"] = {k: v for k, v in organisation_node(base, publisher).items() if v is not None}
        node["dcat:contactPoint"] = {"@id": f"{page}#contact", "@type": ["vcard:Kind", "vcard:Organization"],
                                     "vcard:fn": text(publisher.name, publisher.name_en),
                                     "vcard:hasURL": {"@id": page}}
    if r.sharing_class != "not_shared":
        node["dcat:distribution"] = [{
            "@id": f"{url}#feed",
            "@type": "dcat:Distribution",
            "dct:title": text("数据文件（CSV）", "Feed files (CSV)"),
            "dcat:accessURL": {"@id": url},
            "dcat:mediaType": {"@id": IANA + "text/csv", "@type": "dct:MediaType"},
            "dct:format": {"@id": EU_AUTHORITY + "file-type/CSV", "@type": "dct:MediaTypeOrExtent"},
        }]
    return node


def catalogue_jsonld(db: Session, actor: Actor, base: str) -> dict[str, Any]:
    """Every published resource (government departments only: ``sharing.catalogue.read``)."""
    resources = service.list_resources(db, actor)
    orgs = accounts.organisations_by_id(db, {r.org_id for r in resources})
    coverage = service.coverage(db, [r.id for r in resources])
    return {
        "@context": CONTEXT,
        "@id": f"{base}/sharing",
        "@type": "dcat:Catalog",
        "dct:title": text("贵州省政务数据资源目录", "Guizhou government data resource catalogue"),
        "dct:description": text("各部门发布的政务数据资源及其共享属性。",
                                "Data resources published by government departments, with their sharing class."),
        "dct:publisher": {"@id": f"{base}/", "@type": "foaf:Agent",
                          "foaf:name": text("黔数政务数据共享平台", "Qianshu government data sharing platform")},
        "dct:language": LANGUAGES,
        "foaf:homepage": {"@id": f"{base}/sharing", "@type": "foaf:Document"},
        "dcat:dataset": [dataset_node(base, r, orgs.get(r.org_id), coverage.get(r.id)) for r in resources],
    }
