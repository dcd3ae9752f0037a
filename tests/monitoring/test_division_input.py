"""A malformed division code is bad input, answered as such (422, naming the field, in Chinese and
in English) before permission or jurisdiction is asked: a province user who types five digits is
not told that the division lies outside their jurisdiction (403), through every route of monitoring
that takes a division code, the API's and the portal's."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.core.i18n import LANG_COOKIE
from qianshu.monitoring.models import FeedUpload, RuleParameters
from tests.factories import Factories
from tests.monitoring.conftest import World
from tests.registry.helpers import sign_in

BAD = "52263"  # five digits: no division code has five


def _chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def _routes(run_id: int = 999_999) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("get", f"/api/v1/monitoring/feeds?division={BAD}", {}),
        ("post", f"/api/v1/monitoring/feeds?feed=civil_affairs&year=2026&division={BAD}",
         {"files": {"file": ("civil_affairs.csv", b"household_id\n1\n")}}),
        ("post", "/api/v1/monitoring/shared-feeds", {"json": {"request_id": 1, "feed": "civil_affairs",
                                                             "division": BAD}}),
        ("get", f"/api/v1/monitoring/rules/2026/{BAD}", {}),
        ("put", f"/api/v1/monitoring/rules/2026/{BAD}", {"json": {"parameters": {}, "note": ""}}),
        ("post", "/api/v1/monitoring/runs", {"json": {"year": 2026, "division": BAD}}),
        ("get", f"/api/v1/monitoring/runs/{run_id}/households?division={BAD}", {}),
        ("get", f"/api/v1/monitoring/cases?division={BAD}", {}),
        ("get", f"/api/v1/monitoring/cases.csv?division={BAD}", {}),
        ("get", f"/api/v1/monitoring/dashboard?division={BAD}", {}),
        ("post", "/api/v1/monitoring/cases", {"json": {"channel": "cadre_visit", "division_code": BAD,
                                                      "head_name": "王大山", "members": 3}}),
    ]


@pytest.mark.parametrize("who", ["province", "county", "merchant"])
def test_a_five_digit_division_is_422_through_every_api_route(client, db: Session, world: World,  # type: ignore[no-untyped-def]
                                                              bearer, who: str) -> None:
    user = world.users[who]
    for lang in ("zh", "en"):
        headers = {**bearer(user), "Accept-Language": lang}
        for method, path, kwargs in _routes():
            r = getattr(client, method)(path, headers=headers, **kwargs)
            assert r.status_code == 422, (who, method, path, r.status_code, r.text[:300])
            body = r.json()
            assert body["field"] in ("division", "division_code"), (path, body)
            # the reason in the asker's language (the field is named as the API names it)
            assert _chinese(body["detail"]) == (lang == "zh"), (path, lang, body["detail"])
    # nothing was written
    assert db.scalar(select(func.count()).select_from(FeedUpload)) == 0
    assert db.scalar(select(func.count()).select_from(RuleParameters)) == 0


def test_a_five_digit_division_is_422_in_the_portal(client, db: Session, world: World,  # type: ignore[no-untyped-def]
                                                    make: Factories) -> None:
    admin = make.user(organisation=make.org(org_type="government", division_code="520000"), org_role="monitoring_admin",
                      jurisdiction="520000")
    csrf = sign_in(client, admin)
    for lang, words in (("zh", "区划"), ("en", "division")):
        client.cookies.set(LANG_COOKIE, lang)
        for path in (f"/monitoring/rules?division={BAD}", f"/monitoring/dashboard?division={BAD}",
                     f"/monitoring/dashboard.xlsx?division={BAD}", f"/monitoring/cases?division={BAD}"):
            r = client.get(path)
            assert r.status_code == 422, (path, r.status_code)
            assert words in r.text.lower(), path
        # a rule change or a run for a malformed division is refused, never applied to another one
        r = client.post("/monitoring/rules", data={"csrf_token": csrf, "year": "2026", "division": BAD,
                                                   "income_threshold_fen": "7000"})
        assert r.status_code == 422
        assert words in r.text.lower()
        r = client.post("/monitoring/runs", data={"csrf_token": csrf, "year": "2026", "division": BAD})
        assert r.status_code == 422
        assert words in r.text.lower()
        r = client.post("/monitoring/feeds/shared", data={"csrf_token": csrf, "request_id": "1",
                                                         "feed": "civil_affairs", "division": BAD})
        assert r.status_code == 422
        r = client.post(f"/monitoring/feeds?csrf_token={csrf}", data={"feed": "civil_affairs", "year": "2026",
                                                                    "division": BAD},
                        files={"file": ("civil_affairs.csv", b"household_id\n1\n")})
        assert r.status_code == 422, r.text[:300]
        assert 'id="form-errors"' in r.text
    assert db.scalar(select(func.count()).select_from(RuleParameters)) == 0
    assert db.scalar(select(func.count()).select_from(FeedUpload)) == 0


def test_a_well_formed_division_outside_the_jurisdiction_is_still_refused(client, world: World,  # type: ignore[no-untyped-def]
                                                                          bearer) -> None:
    """The order changed, not the answer to a well-formed code: another county's is 403 (404 for a
    dashboard), as before."""
    headers = {**bearer(world.users["county"]), "Accept-Language": "en"}
    assert client.get("/api/v1/monitoring/feeds?division=522635", headers=headers).status_code == 403
    assert client.get("/api/v1/monitoring/rules/2026/522635", headers=headers).status_code == 403
    r = client.post("/api/v1/monitoring/feeds?feed=civil_affairs&year=2026&division=522635", headers=headers,
                    files={"file": ("civil_affairs.csv", b"household_id\n1\n")})
    assert r.status_code == 403
    assert client.get("/api/v1/monitoring/dashboard?division=522635", headers=headers).status_code == 404
