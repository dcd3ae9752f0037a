"""The public log over HTTP: proofs served by the API pass the independent RFC 9162 verifier."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from qianshu.core.db import Database
from qianshu.core.settings import Settings
from qianshu.core.signing import load_signer
from qianshu.translog import service
from tests.translog import rfc9162_reference as ref


def _b(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


@pytest.fixture
def filled(database: Database, settings: Settings) -> list[bytes]:
    """300 leaves and two heads signed with the app's key, committed (to the test's savepoint)."""
    signer = load_signer(settings.key_dir)
    with database.unit_of_work() as db:
        service.append_events(db, [("registration.issued", {"number": f"QS-{i}"}) for i in range(100)])
        service.sign_tree_head(db, signer)
        service.append_events(db, [("registration.transferred", {"number": f"QS-{i}"}) for i in range(200)])
        service.sign_tree_head(db, signer)
        return [service.get_leaf(db, i).leaf for i in range(300)]


def test_sth_and_public_key(client: TestClient, filled: list[bytes]) -> None:
    from qianshu.core.signing import load_public_key

    sth = client.get("/api/v1/log/sth").json()
    assert sth["tree_size"] == 300
    assert _b(sth["root_hash"]) == ref.mth(filled)
    key = load_public_key(client.get("/api/v1/log/public-key").json()["public_key_pem"].encode())
    assert service.verify_tree_head(key, sth)
    assert client.get("/api/v1/log/public-key.pem").text.startswith("-----BEGIN PUBLIC KEY-----")


def test_no_head_yet_is_404(client: TestClient) -> None:
    response = client.get("/api/v1/log/sth")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


def test_served_inclusion_proofs_verify_independently(client: TestClient, filled: list[bytes]) -> None:
    sth = client.get("/api/v1/log/sth").json()
    root = _b(sth["root_hash"])
    for index in (0, 1, 99, 100, 255, 256, 299):
        body = client.get("/api/v1/log/proof/inclusion", params={"index": index, "tree_size": 300}).json()
        leaf = client.get(f"/api/v1/log/leaves/{index}").json()
        leaf_bytes = leaf["leaf"].encode("utf-8")
        assert leaf_bytes == filled[index]
        assert _b(leaf["leaf_hash"]) == ref.leaf_hash(leaf_bytes)
        assert ref.verify_inclusion(index, 300, ref.leaf_hash(leaf_bytes),
                                    [_b(h) for h in body["inclusion_path"]], root)
    by_hash = client.get("/api/v1/log/proof/inclusion", params={"leaf_hash": ref.leaf_hash(filled[42]).hex()}).json()
    assert by_hash["leaf_index"] == 42
    assert by_hash["tree_size"] == 300
    assert ref.verify_inclusion(42, 300, ref.leaf_hash(filled[42]), [_b(h) for h in by_hash["inclusion_path"]], root)


def test_served_consistency_proofs_verify_independently(client: TestClient, filled: list[bytes]) -> None:
    root = ref.mth(filled)
    for first in (1, 2, 64, 99, 100, 257, 299):
        body = client.get("/api/v1/log/proof/consistency", params={"first": first, "second": 300}).json()
        assert ref.verify_consistency(first, 300, ref.mth(filled[:first]), root,
                                      [_b(h) for h in body["consistency_path"]])


@pytest.mark.parametrize(("url", "field"), [
    ("/api/v1/log/proof/inclusion?index=0&tree_size=301", "tree_size"),
    ("/api/v1/log/proof/inclusion?index=-1&tree_size=300", "index"),
    ("/api/v1/log/proof/inclusion?index=99999999999999999999999&tree_size=300", "index"),
    ("/api/v1/log/proof/inclusion?index=0&tree_size=99999999999999999999999", "tree_size"),
    ("/api/v1/log/proof/inclusion?leaf_hash=xyz", "leaf_hash"),
    ("/api/v1/log/proof/inclusion?leaf_hash=" + "g" * 64, "leaf_hash"),
    ("/api/v1/log/proof/inclusion?index=1&leaf_hash=" + "0" * 64, "index"),
    ("/api/v1/log/proof/inclusion", "index"),
    ("/api/v1/log/proof/inclusion?index=abc", "index"),
    ("/api/v1/log/proof/consistency?first=5&second=301", "second"),
    ("/api/v1/log/proof/consistency?first=9&second=5", "first"),
    ("/api/v1/log/proof/consistency?first=-3", "first"),
])
def test_bad_requests_get_422_naming_the_field(client: TestClient, filled: list[bytes], url: str, field: str) -> None:
    response = client.get(url, headers={"Accept-Language": "zh"})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


def test_unknown_leaf_is_404(client: TestClient, filled: list[bytes]) -> None:
    assert client.get("/api/v1/log/leaves/300").status_code == 404
    assert client.get("/api/v1/log/leaves/-1").status_code in (404, 422)
    missing = client.get("/api/v1/log/proof/inclusion", params={"leaf_hash": "00" * 32})
    assert missing.status_code == 404


def test_leaves_range_for_mirrors(client: TestClient, filled: list[bytes]) -> None:
    body = client.get("/api/v1/log/leaves", params={"start": 295}).json()
    assert [e["index"] for e in body["entries"]] == [295, 296, 297, 298, 299]


def test_portal_pages(client: TestClient, filled: list[bytes]) -> None:
    client.cookies.set("qs_lang", "en")
    page = client.get("/log")
    assert page.status_code == 200
    assert "Latest signed tree head" in page.text
    leaf = client.get("/log/leaves/7")
    assert leaf.status_code == 200
    assert "data-log-proof" in leaf.text
    assert "log-verify.js" in leaf.text
    assert client.get("/log", params={"q": "7"}, follow_redirects=False).headers["location"] == "/log/leaves/7"
    assert client.get("/log", params={"q": "not a hash"}).status_code == 200
    assert client.get("/static/translog/log-verify.js").status_code == 200
    client.cookies.set("qs_lang", "zh")
    assert "公开日志" in client.get("/log").text


def test_cli_verify_sign_export_audit(database: Database, settings: Settings, tmp_path: Path,
                                      filled: list[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    import contextlib

    from qianshu.translog import cli as log_cli

    @contextlib.contextmanager
    def same_database(_settings: object = None):  # type: ignore[no-untyped-def]
        yield database

    monkeypatch.setattr(log_cli, "open_database", same_database)
    monkeypatch.setattr(log_cli, "_settings", lambda _d: settings)
    runner = CliRunner()
    result = runner.invoke(log_cli.log_app, ["verify"])
    assert result.exit_code == 0, result.output
    assert "300 leaves" in result.output
    old = tmp_path / "old.json"
    with database.unit_of_work() as db:
        old.write_text(json.dumps(service.tree_head_document(service.all_tree_heads(db)[0])))
    result = runner.invoke(log_cli.log_app, ["sign"])
    assert result.exit_code == 0, result.output
    new = tmp_path / "new.json"
    new.write_text(result.output)
    result = runner.invoke(log_cli.log_app, ["audit", str(old), str(new)])
    assert result.exit_code == 0, result.output
    forged = json.loads(new.read_text()) | {"tree_size": 299}
    new.write_text(json.dumps(forged))
    result = runner.invoke(log_cli.log_app, ["audit", str(old), str(new)])
    assert result.exit_code == 1
    result = runner.invoke(log_cli.log_app, ["export", str(tmp_path / "copy")])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "copy" / "leaves.jsonl").read_bytes().split(b"\n")[:-1]
    assert lines == filled
    heads = json.loads((tmp_path / "copy" / "tree-heads.json").read_text())
    assert _b(heads[-1]["root_hash"]) == ref.mth(lines)


def test_tampering_is_reported_by_the_cli(database: Database, settings: Settings, filled: list[bytes],
                                          monkeypatch: pytest.MonkeyPatch, db: Session) -> None:
    import contextlib

    from sqlalchemy import text

    from qianshu.translog import cli as log_cli

    @contextlib.contextmanager
    def same_database(_settings: object = None):  # type: ignore[no-untyped-def]
        yield database

    monkeypatch.setattr(log_cli, "open_database", same_database)
    monkeypatch.setattr(log_cli, "_settings", lambda _d: settings)
    with database.unit_of_work() as session:
        session.execute(text("UPDATE translog_leaves SET leaf = :l WHERE leaf_index = 123"), {"l": b"{}"})
    result = CliRunner().invoke(log_cli.log_app, ["verify"])
    assert result.exit_code == 1
    assert "123" in result.output
