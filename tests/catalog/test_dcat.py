"""DCAT-AP 3 export, validated by parsing both serialisations with rdflib."""

from __future__ import annotations

from rdflib import RDF, Graph, Literal, Namespace, URIRef

from qianshu.catalog.schemas import PlanIn

DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCT = Namespace("http://purl.org/dc/terms/")
ODRL = Namespace("http://www.w3.org/ns/odrl/2/")


def test_catalogue_jsonld_and_turtle(client, settings, merchant, listed) -> None:  # type: ignore[no-untyped-def]
    a = listed(
        merchant,
        title_zh="贵阳公交到站数据",
        title_en="Guiyang bus arrivals",
        tags=["公交", "bus"],
        plans=[PlanIn(kind="free", delivery_modes=["download", "api"])],
    )
    listed(merchant, title_zh="未上架", status="pending")
    for suffix, fmt in (("jsonld", "json-ld"), ("ttl", "turtle")):
        response = client.get(f"/api/v1/catalog/dcat.{suffix}")
        assert response.status_code == 200
        graph = Graph().parse(data=response.text, format=fmt)
        catalogs = list(graph.subjects(RDF.type, DCAT.Catalog))
        datasets = set(graph.subjects(RDF.type, DCAT.Dataset))
        assert len(catalogs) == 1
        assert len(datasets) == 1
        dataset = URIRef(f"{settings.public_base}/catalog/{a.id}")
        assert (catalogs[0], DCAT.dataset, dataset) in graph
        assert (dataset, DCT.title, Literal("贵阳公交到站数据", lang="zh")) in graph
        assert (dataset, DCT.title, Literal("Guiyang bus arrivals", lang="en")) in graph
        assert (dataset, DCAT.keyword, Literal("公交", lang="zh")) in graph
        distributions = list(graph.objects(dataset, DCAT.distribution))
        assert len(distributions) == 2
        for dist in distributions:
            assert (dist, RDF.type, DCAT.Distribution) in graph
            assert (dist, DCAT.accessURL, dataset) in graph
            policy = graph.value(dist, ODRL.hasPolicy)
            assert (policy, RDF.type, ODRL.Offer) in graph
        assert graph.value(dataset, DCT.publisher) is not None
        assert graph.value(dataset, DCT.accrualPeriodicity) == URIRef(
            "http://publications.europa.eu/resource/authority/frequency/DAILY"
        )


def test_single_product_dcat(client, merchant, listed) -> None:  # type: ignore[no-untyped-def]
    a = listed(merchant)
    graph = Graph().parse(data=client.get(f"/api/v1/catalog/listings/{a.id}/dcat.ttl").text, format="turtle")
    assert len(set(graph.subjects(RDF.type, DCAT.Dataset))) == 1
    assert client.get("/api/v1/catalog/listings/999999/dcat.jsonld").status_code == 404
