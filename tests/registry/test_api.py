"""The REST API: streamed upload, the pipeline job, review, certificate, bilingual errors."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from qianshu.core import jobs
from qianshu.registry.jobs import HANDLERS
from qianshu.registry.models import Registration, RegistrationFile
from qianshu.registry.settings import RegistrySettings
from tests.registry.helpers import DECLARATION

API = "/api/v1/registrations"


def _chunks(data: bytes, size: int = 1000):  # type: ignore[no-untyped-def]
    for i in range(0, len(data), size):
        yield data[i:i + size]


def test_register_through_the_api(client, database, db, settings, make, merchant, reviewer, operator, bearer,
                                  gb_csv) -> None:
    h = bearer(merchant)
    reg = client.post(API, json={"title_zh": "居民", "title_en": "Residents"}, headers=h)
    assert reg.status_code == 201, reg.text
    rid = reg.json()["id"]
    up = client.put(f"{API}/{rid}/files/{gb_csv.name}", content=_chunks(gb_csv.read_bytes()), headers=h)
    assert up.status_code == 201, up.text
    assert up.json()["size"] == gb_csv.stat().st_size
    assert client.post(f"{API}/{rid}/process", headers=h).status_code == 202
    jobs.run_pending(jobs.JobContext.build(database, settings), HANDLERS)
    job = client.get(f"{API}/{rid}/job", headers=h).json()
    assert job["status"] == "succeeded"
    assert job["registration_status"] == "ready"
    assert {p["kind"] for p in client.get(f"{API}/{rid}/pii", headers=h).json()} >= {"resident_id", "mobile"}
    assert len(client.get(f"{API}/{rid}/columns", headers=h).json()) == 7
    body = DECLARATION.model_dump(mode="json")
    assert client.put(f"{API}/{rid}/declaration", json=body, headers=h).status_code == 200
    assert client.post(f"{API}/{rid}/submit", headers=h).json()["status"] == "submitted"
    hr = bearer(reviewer)
    assert client.post(f"{API}/{rid}/review/take", headers=hr).status_code == 200
    r = client.post(f"{API}/{rid}/review/approve", json={"classification": "general"}, headers=hr)
    assert r.json()["status"] == "public_notice"
    assert any(n["id"] == rid for n in client.get(f"{API}/notices").json())
    # the notice must run its course first
    ho = bearer(operator)
    early = client.post(f"{API}/{rid}/issue", headers=ho | {"Accept-Language": "en"})
    assert early.status_code == 409
    assert "public notice runs until" in early.json()["detail"]
    row = db.get(Registration, rid)
    row.notice_ends_at = row.notice_ends_at - dt.timedelta(days=30)
    db.commit()
    cert = client.post(f"{API}/{rid}/issue", headers=ho).json()
    number = cert["certificate"]["number"]
    downloaded = client.get(f"{API}/certificates/{number}").json()
    check = client.post(f"{API}/certificates/verify", content=json.dumps(downloaded).encode())
    assert check.json()["status"] == "valid", check.text
    assert client.post(f"{API}/{rid}/revoke", json={"reason": "数据来源不合法"}, headers=ho).status_code == 200
    check = client.post(f"{API}/certificates/verify", content=json.dumps(downloaded).encode())
    assert check.json()["status"] == "revoked"


def test_errors_in_both_languages(client, merchant, bearer) -> None:
    h = bearer(merchant)
    rid = client.post(API, json={}, headers=h).json()["id"]
    zh = client.post(f"{API}/{rid}/process", headers=h)
    en = client.post(f"{API}/{rid}/process", headers=h | {"Accept-Language": "en"})
    assert zh.status_code == en.status_code == 422
    assert en.json()["detail"] == "Upload at least one file."
    assert zh.json()["detail"] == "请至少上传一个文件。"


def test_client_disconnect_leaves_nothing(client, db, settings, merchant, bearer) -> None:
    h = bearer(merchant)
    rid = client.post(API, json={}, headers=h).json()["id"]

    def broken():  # type: ignore[no-untyped-def]
        yield b"a,b\n1,2\n" * 1000
        raise ConnectionResetError("client went away")

    with pytest.raises(Exception):  # noqa: B017,PT011 - the test client re-raises the client's error
        client.put(f"{API}/{rid}/files/x.csv", content=broken(), headers=h)
    assert db.query(RegistrationFile).filter_by(registration_id=rid).count() == 0
    leftovers = [p for p in settings.blob_dir.rglob("*") if p.is_file()]
    assert leftovers == []


def test_upload_over_the_limit_is_refused(client, settings, merchant, bearer) -> None:
    settings.override(RegistrySettings, upload_max_bytes=1000)
    h = bearer(merchant)
    rid = client.post(API, json={}, headers=h).json()["id"]
    r = client.put(f"{API}/{rid}/files/big.csv", content=_chunks(b"x" * 5000), headers=h)
    assert r.status_code == 413
    assert [p for p in settings.blob_dir.rglob("*") if p.is_file()] == []


def test_other_merchants_cannot_see_a_draft(client, make, merchant, bearer) -> None:
    rid = client.post(API, json={}, headers=bearer(merchant)).json()["id"]
    stranger = make.user(organisation=make.org(org_type="data_merchant"))
    assert client.get(f"{API}/{rid}", headers=bearer(stranger)).status_code == 404


def test_a_file_name_over_255_characters_is_refused_not_cut(client, db, merchant, bearer) -> None:
    h = bearer(merchant)
    rid = client.post(API, json={"title_zh": "长名"}, headers=h).json()["id"]
    name = "数" * 296 + ".csv"
    r = client.put(f"{API}/{rid}/files/{name}", content=b"a,b\n1,2\n", headers={**h, "Accept-Language": "zh"})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "name"
    assert "文件名过长" in r.json()["detail"]
    assert "255" in r.json()["detail"]
    assert client.get(f"{API}/{rid}", headers=h).json()["files"] == []
    ok = client.put(f"{API}/{rid}/files/{'数' * 251}.csv", content=b"a,b\n1,2\n", headers=h)
    assert ok.status_code == 201, ok.text
    assert ok.json()["name"] == "数" * 251 + ".csv"
