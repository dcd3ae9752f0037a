"""Integers beyond the 64-bit range never reach the database: a path id is a 404, a query value
or a JSON number a 422 naming the field, on every capability, never a 500."""

from __future__ import annotations

import re

import pytest

BIG = [2**63, 2**64, -(2**63) - 1, 10**30]
POSITIVE_BIG = [n for n in BIG if n > 0]  # routes whose path converter takes digits only


def _merchant(make):  # type: ignore[no-untyped-def]
    return make.user(organisation=make.org(org_type="data_merchant"))


@pytest.mark.parametrize("number", BIG)
def test_an_id_out_of_range_in_the_path_is_not_found(client, make, bearer, number: int) -> None:
    h = bearer(_merchant(make)) | {"Accept-Language": "en"}
    for method, url in [
        ("GET", f"/api/v1/registrations/{number}"),
        ("GET", f"/api/v1/registrations/{number}/columns"),
        ("POST", f"/api/v1/registrations/{number}/submit"),
        ("DELETE", f"/api/v1/registrations/1/files/{number}"),
        ("GET", f"/api/v1/catalog/listings/{number}"),
        ("POST", f"/api/v1/catalog/listings/{number}/submit"),
        ("GET", f"/api/v1/catalog/demands/{number}"),
        ("GET", f"/api/v1/organisations/{number}"),
        ("DELETE", f"/api/v1/tokens/{number}"),
        ("GET", f"/api/v1/log/leaves/{number}"),
        ("GET", f"/log/leaves/{number}"),
    ]:
        r = client.request(method, url, headers=h)
        assert r.status_code == 404, (method, url, r.status_code, r.text[:300])
        if url.startswith("/api/"):
            assert r.json()["code"] == "not_found"


@pytest.mark.parametrize("number", POSITIVE_BIG)
def test_portal_pages_with_an_id_out_of_range_are_not_found(client, number: int) -> None:
    for url in [f"/registry/{number}", f"/catalog/{number}", f"/demands/{number}", f"/log/leaves/{number}"]:
        r = client.get(url)
        assert r.status_code == 404, (url, r.status_code)
        assert "未找到" in r.text


@pytest.mark.parametrize("number", BIG)
def test_a_query_value_out_of_range_is_refused_naming_it(client, make, bearer, number: int) -> None:
    auditor = make.operator(staff_role="auditor")
    for url, field, headers in [
        (f"/api/v1/log/leaves?start={number}", "start", {}),
        (f"/api/v1/log/leaves?start=0&end={number}", "end", {}),
        (f"/api/v1/log/proof/inclusion?index={number}&tree_size=1", "index", {}),
        (f"/api/v1/log/proof/consistency?first=1&second={number}", "second", {}),
        (f"/api/v1/catalog/search?page={number}", "page", {}),
        (f"/api/v1/catalog/demands?per_page={number}", "per_page", {}),
        (f"/api/v1/audit?user_id={number}", "user_id", bearer(auditor)),
    ]:
        r = client.get(url, headers=headers | {"Accept-Language": "en"})
        assert r.status_code == 422, (url, r.status_code, r.text[:300])
        body = r.json()
        assert body["field"] == field
        assert body["code"] == "invalid_input"
        assert field in body["detail"]
    zh = client.get(f"/api/v1/log/leaves?start={number}", headers={"Accept-Language": "zh"})
    assert zh.json()["detail"] == "start 超出取值范围。"


@pytest.mark.parametrize("number", BIG)
def test_a_json_number_out_of_range_is_refused_naming_it(client, make, bearer, number: int) -> None:
    h = bearer(_merchant(make)) | {"Accept-Language": "en"}
    r = client.post("/api/v1/catalog/listings", headers=h | {"Content-Type": "application/json"},
                    content=f'{{"registration_id": {number}, "title_zh": "标题"}}')
    assert r.status_code == 422, r.text
    body = r.json()
    assert (body["field"], body["code"], body["detail"]) == (
        "registration_id", "invalid_input", "registration_id is out of range.")
    nested = client.post("/api/v1/catalog/demands/1/responses", headers=h,
                         json={"listing_id": number, "message": "x"})
    assert nested.status_code == 422
    assert nested.json()["field"] == "listing_id"
    # A long number inside a string is text, not a number: nothing to refuse here.
    text = client.post("/api/v1/registrations", headers=h, json={"title_zh": str(number)})
    assert text.status_code == 201


@pytest.mark.parametrize("number", BIG)
def test_a_form_number_out_of_range_is_never_a_server_error(client, make, number: int) -> None:
    from tests.registry.helpers import sign_in

    merchant = _merchant(make)
    csrf = sign_in(client, merchant)
    rid = client.post("/api/v1/registrations", headers={"X-CSRF-Token": csrf}, json={}).json()["id"]
    r = client.post(f"/registry/{rid}/remove-file", data={"file_id": str(number), "csrf_token": csrf},
                    follow_redirects=False)
    assert r.status_code in {404, 422}, r.text[:300]
    assert re.search("超出取值范围|未找到|不存在", r.text)


def test_the_largest_64_bit_numbers_still_reach_the_routes(client) -> None:
    assert client.get(f"/api/v1/registrations/{2**63 - 1}").status_code == 404
    assert client.get(f"/api/v1/log/leaves?start={2**63 - 1}").status_code != 500
    assert client.get(f"/log/leaves/{2**63 - 1}").status_code == 404


def test_ids_past_32_bits_are_not_found_on_both_databases(client, make, bearer) -> None:
    # PostgreSQL's INTEGER keys end at 2**31 - 1; the database's range error is a 404 for a path id.
    for url in [f"/api/v1/registrations/{2**31}", f"/api/v1/catalog/listings/{2**40}", f"/registry/{2**40}"]:
        assert client.get(url).status_code == 404, url
    h = bearer(make.operator(staff_role="auditor"))
    assert client.get(f"/api/v1/audit?user_id={2**40}", headers=h).status_code in {200, 422}
