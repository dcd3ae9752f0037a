"""The portal's side of the data API and the sandbox: the contract page's delivery panel for both
parties, the API key shown once, the sandbox page with its results and history; and the OpenAPI
document describing the routes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from qianshu.accounts.models import User
from qianshu.core.actor import Actor
from qianshu.core.settings import Settings
from tests.accounts.test_portal import csrf, sign_in
from tests.delivery.delivery_support import Setup, make_setup


@pytest.fixture
def setup(db: Session, settings: Settings, tmp_path: Path) -> Setup:
    return make_setup(db, settings, tmp_path)


def _email(db: Session, user_id: int | None) -> str:
    user = db.get(User, user_id)
    assert user is not None
    return user.email


def test_the_buyer_asks_in_the_sandbox_and_the_seller_sees_the_log(client: TestClient, db: Session,
                                                                  setup: Setup) -> None:
    assert sign_in(client, _email(db, setup.buyer.user_id)).status_code == 303
    path = f"/delivery/contracts/{setup.sandbox_contract.id}/sandbox"
    page = client.get(path)
    assert page.status_code == 200
    assert 'name="sql"' in page.text
    # the buyer is told what the table's columns are, without seeing a value of them
    columns = page.text.split('id="sandbox-columns"')[1].split("</p>")[0]
    assert ">county</code>" in columns
    token = csrf(client, path)
    answered = client.post(path, data={"sql": "SELECT county, count(*) FROM data GROUP BY county",
                                       "csrf_token": token})
    assert answered.status_code == 200
    assert 'id="sandbox-result"' in answered.text
    assert "南明区" in answered.text
    refused = client.post(path, data={"sql": "SELECT * FROM data", "csrf_token": token})
    assert refused.status_code == 422
    assert 'role="alert"' in refused.text
    contract_page = client.get(f"/exchange/contracts/{setup.sandbox_contract.id}")
    assert 'id="delivery-panel"' in contract_page.text
    assert 'id="sandbox-log"' in contract_page.text
    # A sandbox contract hands over no copy, so its delivery page speaks of no watermarked copy.
    delivery_page = client.get(f"/delivery/contracts/{setup.sandbox_contract.id}").text
    assert "隐形水印" not in delivery_page
    assert "invisible watermark" not in delivery_page
    client.post("/sign-out", data={"csrf_token": csrf(client, "/")})
    assert sign_in(client, _email(db, setup.merchant.user_id)).status_code == 303
    seller_view = client.get(f"/exchange/contracts/{setup.sandbox_contract.id}").text
    assert "SELECT * FROM data" in seller_view
    assert 'id="sandbox-log"' in seller_view
    assert "sandbox_refused" not in seller_view  # the outcome says it was refused, in words
    client.cookies.set("qs_lang", "en")  # each outcome as a label in English
    log = client.get(f"/exchange/contracts/{setup.sandbox_contract.id}").text.split('id="sandbox-log"')[1]
    assert "</code></td><td>Answered</td>" in log
    assert "</code></td><td>Refused</td>" in log
    client.cookies.set("qs_lang", "zh")
    assert f"/delivery/contracts/{setup.sandbox_contract.id}/sandbox" not in seller_view  # buyer only
    assert client.get(path).status_code == 403


def test_the_buyer_gets_the_key_once_on_the_contract_page(client: TestClient, db: Session, setup: Setup) -> None:
    assert sign_in(client, _email(db, setup.buyer.user_id)).status_code == 303
    contract_path = f"/exchange/contracts/{setup.api_contract.id}"
    assert 'id="api-key-form"' in client.get(contract_path).text
    shown = client.post(f"/delivery/contracts/{setup.api_contract.id}/api-key",
                        data={"csrf_token": csrf(client, contract_path)})
    assert shown.status_code == 200
    match = re.search(r'id="api-key">(qsk_[^<]+)<', shown.text)
    assert match
    assert match.group(1) not in client.get(contract_path).text  # shown once
    assert client.get("/api/v1/delivery/data/rows", headers={"X-API-Key": match.group(1)}).status_code == 200
    assert 'id="api-usage"' in client.get(contract_path).text


def test_the_openapi_document_describes_the_routes(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    for path in ("/api/v1/delivery/data/rows", "/api/v1/delivery/contracts/{contract_id}/api-key",
                 "/api/v1/delivery/contracts/{contract_id}/sandbox/queries",
                 "/api/v1/delivery/products/{listing_id}/sandbox"):
        assert path in paths
    parameters = {p["name"] for p in paths["/api/v1/delivery/data/rows"]["get"]["parameters"]}
    assert {"x-api-key", "columns", "filter", "limit", "cursor"} <= {p.lower() for p in parameters}
    assert client.get("/api/docs").status_code == 200


def test_the_contract_panel_offers_each_party_only_its_own_controls(db: Session, setup: Setup) -> None:
    from qianshu.delivery import read_models

    def offered(actor: Actor, contract: object) -> dict[str, bool]:
        panel = read_models.contract_panel(db, actor, contract)
        assert panel is not None
        return {name: getattr(panel, name) for name in ("can_key", "can_query", "can_limits", "can_configure")}

    nothing = dict.fromkeys(("can_key", "can_query", "can_limits", "can_configure"), False)
    assert offered(setup.buyer, setup.api_contract) == {**nothing, "can_key": True}
    assert offered(setup.merchant, setup.api_contract) == {**nothing, "can_limits": True}
    assert offered(setup.operator, setup.api_contract) == {**nothing, "can_limits": True}
    assert offered(setup.buyer, setup.sandbox_contract) == {**nothing, "can_query": True}
    assert offered(setup.merchant, setup.sandbox_contract) == {**nothing, "can_configure": True}
