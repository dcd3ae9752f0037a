"""Linked data: one configured public address, every published address answers, DCAT-AP 3.0.1
conformance (pyshacl against tests/catalog/shapes/dcat-ap-3.0.1-subset.ttl), ODRL readable offline,
licences chosen when listing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from urllib.parse import urldefrag

import pytest
from pyshacl import validate
from rdflib import RDF, Graph, Literal, Namespace, URIRef

from qianshu.catalog import service
from qianshu.catalog.schemas import PlanIn, PolicyIn
from qianshu.core.settings import Settings

BASE = "https://data.example.gov.cn/exchange"
SHAPES = Path(__file__).parent / "shapes" / "dcat-ap-3.0.1-subset.ttl"
DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCT = Namespace("http://purl.org/dc/terms/")
ODRL = Namespace("http://www.w3.org/ns/odrl/2/")
SH = Namespace("http://www.w3.org/ns/shacl#")
EVIL = {"Host": "evil.example", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The exchange published under a domain and a path, as behind a proxy."""
    return settings.model_copy(update={"public_base_url": BASE + "/"})


@pytest.fixture
def products(merchant, listed, make, db):  # type: ignore[no-untyped-def]
    """Two listed products of two organisations, several plans, licences, a time coverage."""
    plans = [
        PlanIn(kind="free", name_zh="免费版", name_en="Free", delivery_modes=["download", "api"]),
        PlanIn(kind="yearly", price="5000", delivery_modes=["api", "sandbox"],
               policy=PolicyIn(purposes=["commercial"], term_days=None, territory="CN-GZ", resale=True)),
    ]
    a = listed(merchant, title_zh="贵阳公交到站数据", title_en="Guiyang bus arrivals", tags=["公交", "bus"],
               plans=plans, time_coverage_start=dt.date(2024, 1, 1), time_coverage_end=dt.date(2025, 12, 31),
               division_code="520102", industry_code="G54")
    service.update_listing(db, merchant, a.id, service.ListingUpdate(version=a.version, licence="cc-by-4.0"))
    other = make.actor(make.user(organisation=make.org(name="遵义气象数据公司", name_en="")))
    b = listed(other, title_zh="遵义气象观测", title_en="", division_code="520300", industry_code="M74",
               update_frequency="realtime", time_coverage_start=dt.date(2023, 6, 1))
    listed(other, title_zh="未上架", status="pending")
    db.flush()
    return a, b


def _path(iri: str) -> str:
    assert iri.startswith(BASE + "/") or iri == BASE, iri
    return urldefrag(iri)[0][len(BASE):] or "/"


def test_addresses_follow_the_setting_not_the_request(client, products) -> None:  # type: ignore[no-untyped-def]
    a, _ = products
    urls = ["/api/v1/catalog/dcat.jsonld", "/api/v1/catalog/dcat.ttl", f"/api/v1/catalog/listings/{a.id}/dcat.ttl",
            "/api/v1/catalog/search?q=bus", "/api/v1/catalog/licences",
            f"/catalog/{a.id}/plans/{a.plans[0].id}/policy", f"/organisations/{a.org_id}?format=jsonld",
            "/regions/520102?format=ttl"]
    for url in urls:
        plain = client.get(url)
        hostile = client.get(url, headers=EVIL)
        assert plain.status_code == hostile.status_code == 200, url
        assert "evil.example" not in hostile.text, url
        assert hostile.text == plain.text, url
        assert BASE in plain.text, url
    assert client.get("/api/v1/catalog/search?q=bus").json()["items"][0]["url"] == f"{BASE}/catalog/{a.id}"


def test_every_address_in_the_export_answers(client, products) -> None:  # type: ignore[no-untyped-def]
    graph = Graph().parse(data=client.get("/api/v1/catalog/dcat.ttl").text, format="turtle")
    iris = {str(t) for triple in graph for t in triple if isinstance(t, URIRef)}
    assert not [i for i in iris if i.startswith("file:")], "relative addresses became file: IRIs"
    ours = sorted({urldefrag(i)[0] for i in iris if i.startswith(BASE)})
    kinds = {p.split("/")[1] for p in map(_path, ours) if p != "/"}
    assert {"catalog", "regions", "industries", "organisations"} <= kinds
    assert any("/plans/" in i and i.endswith("/policy") for i in ours)
    for iri in ours:
        for accept in ("text/html", "application/ld+json"):
            r = client.get(_path(iri), headers={"Accept": accept})
            assert r.status_code == 200, (iri, accept, r.status_code)
    # The Qianshu licence is ours, so it answers too; the CC licences are the EU vocabulary's.
    assert client.get("/licences/qianshu-exchange-1.0").status_code == 200


def test_resource_pages_in_both_languages(client, products, make) -> None:  # type: ignore[no-untyped-def]
    a, _ = products
    zh = client.get("/regions/520100", headers={"Accept-Language": "zh"})
    en = client.get("/regions/520100", headers={"Accept-Language": "en", "Cookie": "lang=en"})
    assert "贵阳市" in zh.text
    assert "贵阳公交到站数据" in zh.text
    assert "Guiyang" in client.get("/regions/520100?format=jsonld").text
    assert en.status_code == 200
    industry = client.get("/industries/G54", headers={"Accept": "application/ld+json"}).json()
    assert industry["@id"] == f"{BASE}/industries/G54"
    assert industry["skos:broader"] == {"@id": f"{BASE}/industries/G"}
    org = client.get(f"/organisations/{a.org_id}")
    assert "贵阳公交到站数据" in org.text
    assert "@" not in org.text.split("<main")[-1].split("</main>")[0]
    for missing in ("/regions/110000", "/regions/abc", "/industries/Z99", "/licences/gpl",
                    f"/organisations/{make.org(status='pending').id}", "/organisations/999999"):
        assert client.get(missing).status_code == 404, missing


def test_policies_have_absolute_addresses_and_read_offline(client, products) -> None:  # type: ignore[no-untyped-def]
    a, _ = products
    plan = a.plans[1]
    url = f"/catalog/{a.id}/plans/{plan.id}/policy"
    doc = client.get(url).json()
    assert isinstance(doc["@context"], dict), "the context is inline, no remote document"
    assert doc["uid"] == f"{BASE}{url}"
    # rdflib would fetch a remote context; an inline one parses without any network.
    graph = Graph().parse(data=json.dumps(doc), format="json-ld")
    policy = URIRef(doc["uid"])
    assert (policy, RDF.type, ODRL.Offer) in graph
    permissions = list(graph.objects(policy, ODRL.permission))
    assert {graph.value(p, ODRL.action) for p in permissions} == {ODRL.use, ODRL.sell}
    assert graph.value(permissions[0], ODRL.target) == URIRef(f"{BASE}/catalog/{a.id}")
    # A browser is sent to the product page, where the policy reads as sentences.
    page = client.get(url, headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == f"/catalog/{a.id}#plan-{plan.id}"
    # The product's API shows the policies as published, whatever was stored (here a relative uid).
    assert plan.policy["uid"] == url
    shown = client.get(f"/api/v1/catalog/listings/{a.id}", headers=EVIL).json()
    expected = [f"{BASE}/catalog/{a.id}/plans/{p.id}/policy" for p in a.plans]
    assert [p["policy"]["uid"] for p in shown["plans"]] == expected
    assert shown["url"] == f"{BASE}/catalog/{a.id}"


def test_the_export_conforms_to_dcat_ap_3(client, products) -> None:  # type: ignore[no-untyped-def]
    a, b = products
    shapes = Graph().parse(SHAPES, format="turtle")
    for url, fmt in (("/api/v1/catalog/dcat.ttl", "turtle"), ("/api/v1/catalog/dcat.jsonld", "json-ld"),
                     (f"/api/v1/catalog/listings/{b.id}/dcat.ttl", "turtle")):
        data = Graph().parse(data=client.get(url).text, format=fmt)
        conforms, report, text = validate(data, shacl_graph=shapes, advanced=False, inference="none")
        results = list(report.subjects(RDF.type, SH.ValidationResult))
        assert not results, text  # no violation, and no warning either
        assert conforms
    graph = Graph().parse(data=client.get("/api/v1/catalog/dcat.ttl").text, format="turtle")
    dataset = URIRef(f"{BASE}/catalog/{a.id}")
    assert (dataset, DCT.title, Literal("贵阳公交到站数据", lang="zh")) in graph
    assert graph.value(dataset, DCT.accessRights) == URIRef(
        "http://publications.europa.eu/resource/authority/access-right/RESTRICTED")
    period = graph.value(dataset, DCT.temporal)
    assert graph.value(period, DCAT.startDate) == Literal(dt.date(2024, 1, 1))
    distributions = list(graph.objects(dataset, DCAT.distribution))
    assert len(distributions) == 4  # (free: download, api) + (yearly: api, sandbox)
    for dist in distributions:
        assert graph.value(dist, DCT.license) == URIRef(
            "http://publications.europa.eu/resource/authority/licence/CC_BY_4_0")
        assert graph.value(dist, DCT["format"]) is not None
    assert graph.value(dataset, DCAT.contactPoint) is not None


def test_the_shapes_catch_what_the_old_export_did(client, products) -> None:  # type: ignore[no-untyped-def]
    """Linked values without their class, no description, two policies on one distribution."""
    shapes = Graph().parse(SHAPES, format="turtle")
    old = Graph().parse(format="turtle", data="""
        @prefix dcat: <http://www.w3.org/ns/dcat#> . @prefix dct: <http://purl.org/dc/terms/> .
        @prefix odrl: <http://www.w3.org/ns/odrl/2/> .
        <http://x/catalog/1> a dcat:Dataset ; dct:title "t"@zh ;
            dct:spatial <http://x/regions/520102> ; dcat:theme <http://x/industries/G54> ;
            dct:accrualPeriodicity <http://publications.europa.eu/resource/authority/frequency/DAILY> ;
            dcat:distribution <http://x/catalog/1#d> .
        <http://x/catalog/1#d> a dcat:Distribution ; dcat:accessURL <http://x/catalog/1> ;
            odrl:hasPolicy [ a odrl:Offer ] , [ a odrl:Offer ] .
    """)
    conforms, report, _ = validate(old, shacl_graph=shapes, inference="none")
    violations = [r for r in report.subjects(RDF.type, SH.ValidationResult)
                  if report.value(r, SH.resultSeverity) == SH.Violation]
    paths = {report.value(r, SH.resultPath) for r in violations}
    assert not conforms
    assert {DCT.description, DCT.spatial, DCAT.theme, DCT.accrualPeriodicity, ODRL.hasPolicy} <= paths


def test_the_public_address_setting() -> None:
    assert Settings(host="0.0.0.0", port=8080).public_base == "http://127.0.0.1:8080"  # noqa: S104
    assert Settings(public_base_url="https://data.example.gov.cn/").public_base == "https://data.example.gov.cn"
    for bad in ("data.example.gov.cn", "ftp://x", "https://x/?a=1", "https://x/#f", "javascript:alert(1)"):
        with pytest.raises(ValueError, match="public_base_url"):
            Settings(public_base_url=bad)


def test_licence_is_chosen_when_listing(client, registration, make, bearer, db) -> None:  # type: ignore[no-untyped-def]
    from qianshu.catalog.models import Listing
    from tests.registry.helpers import sign_in

    licences = client.get("/api/v1/catalog/licences", headers={"Accept-Language": "zh"}).json()
    assert [x["key"] for x in licences] == ["qianshu-exchange-1.0", "cc-by-4.0", "cc-by-nc-4.0"]
    assert licences[0]["uri"] == f"{BASE}/licences/qianshu-exchange-1.0"
    assert licences[1]["uri"].endswith("/licence/CC_BY_4_0")
    assert "署名" in licences[1]["title"]
    user = make.user()
    holder = make.actor(user)
    # API
    body = {"registration_id": registration(holder).id, "licence": "cc-by-nc-4.0"}
    created = client.post("/api/v1/catalog/listings", json=body, headers=bearer(user))
    assert created.status_code == 201, created.text
    assert created.json()["licence"] == "cc-by-nc-4.0"
    body = {"registration_id": registration(holder).id, "licence": "all-rights-reserved"}
    refused = client.post("/api/v1/catalog/listings", json=body, headers=bearer(user))
    assert refused.status_code == 422
    assert "licence" in refused.text
    # portal
    csrf = sign_in(client, user)
    page = client.get("/catalog/mine")
    assert 'name="licence"' in page.text
    assert "CC BY-NC 4.0" in page.text
    reg = registration(holder)
    posted = client.post("/catalog/mine", data={"csrf_token": csrf, "registration_id": str(reg.id),
                                                "licence": "cc-by-4.0", "data_type": "table"},
                         follow_redirects=False)
    assert posted.status_code == 303, posted.text[:500]
    listing = db.query(Listing).filter_by(registration_id=reg.id).one()
    assert listing.licence == "cc-by-4.0"
    assert 'value="cc-by-4.0" selected' in client.get(f"/catalog/{listing.id}/edit").text
