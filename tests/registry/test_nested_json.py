"""A certificate nested thousands of levels deep is refused clearly, never a crash (issue 9)."""

from __future__ import annotations

import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from qianshu.cli import app
from qianshu.core import safejson

API = "/api/v1/registrations"
TOO_DEEP = [
    b"[" * 6000,  # what was reported: 6 KB of brackets
    b'{"certificate": {"a": ' + b'{"b": ' * 3000 + b"1" + b"}" * 3000 + b'}, "signature": {}}',
    b'{"certificate": {"x": ' + b"[" * 40 + b"]" * 40 + b'}, "signature": {}}',  # parses, yet too deep
]


@pytest.mark.parametrize("body", TOO_DEEP)
def test_the_api_refuses_a_deeply_nested_certificate(client, body: bytes) -> None:
    r = client.post(f"{API}/certificates/verify", content=body, headers={"Accept-Language": "zh"})
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["field"] == "certificate"
    assert "嵌套层级过深" in problem["detail"]


def test_the_portal_refuses_a_deeply_nested_certificate(client) -> None:
    page = client.get("/registry/verify", headers={"Accept-Language": "en"})
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = client.post(f"/registry/verify?csrf_token={csrf}", headers={"Accept-Language": "en"},
                    files={"certificate": ("c.json", TOO_DEEP[0], "application/json")})
    assert r.status_code == 422
    assert "嵌套层级过深" in r.text


def test_the_cli_refuses_a_deeply_nested_certificate(tmp_path) -> None:
    key = tmp_path / "public.pem"
    key.write_bytes(Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    cert = tmp_path / "deep.json"
    cert.write_bytes(TOO_DEEP[0])
    result = CliRunner().invoke(app, ["certificate", "verify", str(cert), "--public-key", str(key)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "RecursionError" not in result.output
    assert "嵌套层级过深" in result.output
    assert "nested too deeply" in " ".join(result.output.split())


def test_the_depth_check_ignores_brackets_inside_strings() -> None:
    text = '{"a": "' + "[" * 1000 + '\\"[[[", "b": [[1]]}'
    assert safejson.loads(text)["b"] == [[1]]
    assert not safejson.nesting_depth_exceeds('[' * 32 + ']' * 32)
    assert safejson.nesting_depth_exceeds('[' * 33 + ']' * 33)
