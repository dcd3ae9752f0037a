"""Adding a capability is one folder and one line: the example capability of the tests
(``tests/example_capability/``) is picked up by the web app, the policy, the permission matrix and
the permissions page as soon as ``"tests.example_capability"`` joins ``CAPABILITIES``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from qianshu import capabilities
from qianshu.accounts import service
from qianshu.core import policy
from qianshu.core.actor import Actor
from tests.example_capability import permission_rows
from tests.permission_support import JURISDICTIONS
from tests.test_permission_matrix import REFUSED, _expected, _request, _user_for, app_routes


def _clear() -> None:
    capabilities.manifests.cache_clear()
    policy.actions.cache_clear()


@pytest.fixture
def with_example(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(capabilities, "CAPABILITIES", (*capabilities.CAPABILITIES, "tests.example_capability"))
    _clear()
    yield
    monkeypatch.undo()
    _clear()


def test_the_example_is_read_from_its_manifest_and_checked(with_example: None) -> None:
    assert capabilities.manifests()[-1].name == "example_capability"
    assert capabilities.check() == []
    declared = policy.actions()["example.inspect"]
    assert declared.capability == "example_capability"
    assert "`example.inspect`" in policy.document(policy.actions().values())


def test_a_lie_in_the_example_is_named(with_example: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    found = tuple(replace(m, cli=True) if m.name == "example_capability" else m for m in capabilities.manifests())
    monkeypatch.setattr(capabilities, "manifests", lambda: found)
    assert "example_capability: declares cli but has no cli.py" in capabilities.check()


@pytest.mark.parametrize("role", ["anonymous", "member", "operator", "admin-of-government", *JURISDICTIONS])
def test_the_matrix_covers_the_example_route_and_the_app_obeys_the_policy(
        with_example: None, role: str, settings: Any, database: Any, db: Any, make: Any) -> None:
    from qianshu.web.app import create_app

    app = create_app(settings, database=database)
    route = ("GET", "/api/v1/example/divisions/{code}")
    assert route in app_routes(app)
    assert set(permission_rows.ROWS) == {r for r in app_routes(app) if r[1].startswith("/api/v1/example/")}
    row = permission_rows.ROWS[route]
    assert all(name in policy.actions() for name in row.actions())
    user = _user_for(role, make)
    ctx: dict[str, Any] = {}
    permission_rows.setup(ctx, db, make, None, {})
    actor = service.actor_for(user, via="api", ip="127.0.0.1") if user else Actor(user_id=None, via="anonymous")
    wanted = _expected(row, actor, ctx)
    assert wanted == (role == "caseworker_in")  # only a caseworker whose jurisdiction holds 520102
    db.flush()
    with TestClient(app, base_url="http://testserver") as client:
        status = _request(client, db, settings, user, "GET", "/api/v1/example/divisions/520102", None)
    assert (status not in REFUSED) == wanted, status
