"""The OpenAPI document tells the truth: a valid OpenAPI 3.1 document, and the app answers every
operation as documented (schemathesis: status code, content type and body schema of each
response, and never a 5xx), with a few generated requests per operation.

Bounded: ``EXAMPLES`` requests per operation and pass (anonymous; a data merchant; a data merchant
sending requests that break the document), derandomised (the same requests on every run, so a
failure reproduces); under a minute on two cores.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = 4
NEGATIVE_EXAMPLES = 2
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Requests that break the document (wrong types, missing fields, bytes that are not JSON): they
# must be refused as documented (a 4xx problem+json), never crash the server.
NEGATIVE_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance]


def test_the_document_is_valid_openapi_3_1(client) -> None:
    document = client.get("/api/openapi.json").json()
    validate(document)  # raises on any violation of the OpenAPI 3.1 schema
    assert document["openapi"].startswith("3.1")
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert len(operations) >= 80
    for op in operations:
        assert op["summary"][0].isupper(), op["operationId"]
        assert "HTTPValidationError" not in str(op["responses"]), op["operationId"]
        errors = [s for s in op["responses"] if s >= "400"]
        assert errors, op["operationId"]
        for status in errors:
            assert "application/problem+json" in op["responses"][status]["content"], (op["operationId"], status)
    assert "bearerToken" in document["components"]["securitySchemes"]


def test_documented_media_types_and_bodies(client) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]

    def content(path: str, method: str = "get", status: str = "200") -> list[str]:
        return list(paths[path][method]["responses"][status].get("content", {}))

    assert content("/api/v1/catalog/dcat.ttl") == ["text/turtle"]
    assert content("/api/v1/catalog/dcat.jsonld") == ["application/ld+json"]
    assert content("/api/v1/log/public-key.pem") == ["application/x-pem-file"]
    assert content("/api/v1/registrations/{registration_id}/contract") == ["application/octet-stream"]
    upload = paths["/api/v1/registrations/{registration_id}/files/{name}"]["put"]
    assert list(upload["requestBody"]["content"]) == ["application/octet-stream"]
    assert upload["security"] == [{"bearerToken": []}, {"sessionCookie": []}]
    verify = paths["/api/v1/registrations/certificates/verify"]["post"]
    assert list(verify["requestBody"]["content"]) == ["application/json"]
    assert paths["/api/v1/me"]["get"]["summary"] != "Me"
    assert "400" in paths["/api/v1/tokens"]["post"]["responses"]  # a JSON body that is not JSON text


def test_a_body_that_is_not_json_text_is_the_documented_400(client, make, bearer) -> None:
    headers = bearer(make.operator()) | {"Content-Type": "application/json", "Accept-Language": "en"}
    r = client.post("/api/v1/tokens", content=b"\xff\xfe\x00", headers=headers)
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "body_unreadable"


@pytest.mark.slow
@pytest.mark.parametrize(("identity", "mode"), [("anonymous", "positive"), ("data merchant", "positive"),
                                                ("data merchant", "negative")])
def test_every_operation_answers_as_documented(app, make, bearer, identity: str, mode: str) -> None:
    headers: dict[str, Any] = {"Accept-Language": "en"}
    if identity != "anonymous":
        headers |= bearer(make.user(organisation=make.org(org_type="data_merchant")))
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if mode == "negative" and "requestBody" not in operation.definition.raw:
            continue  # broken bodies here; broken path and query values: tests/web/test_number_range.py

        @given(case=operation.as_strategy(GenerationMode(mode)))
        @settings(max_examples=EXAMPLES if mode == "positive" else NEGATIVE_EXAMPLES, deadline=None,
                  derandomize=True, database=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        def answers_as_documented(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS if mode == "positive" else NEGATIVE_CHECKS)

        try:
            answers_as_documented()
        except Unsatisfiable:  # nothing in it can be broken: the positive pass covers it
            continue
        except BaseException as exc:  # every operation is tried; all failures are reported at once
            if not isinstance(exc, Exception | BaseExceptionGroup):
                raise
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
