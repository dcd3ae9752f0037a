"""What every page carries: a language switch that leads back to a page (not to a POST-only
address), and a favicon."""

from __future__ import annotations

import re


def _switch_target(page: str) -> str:
    found = re.search(r'id="lang-en" lang="en" href="/lang/en\?next=([^"]*)"', page)
    assert found is not None, page[:800]
    return found.group(1)


def test_the_switch_returns_to_the_page_with_its_query(client) -> None:  # type: ignore[no-untyped-def]
    target = _switch_target(client.get("/catalog?q=%E4%BA%A4%E9%80%9A").text)
    switched = client.get(f"/lang/en?next={target}", follow_redirects=False)
    assert switched.headers["location"] == "/catalog?q=%E4%BA%A4%E9%80%9A"  # the search is kept


def test_after_a_form_post_the_switch_goes_back_to_the_form_page(client) -> None:  # type: ignore[no-untyped-def]
    form = client.get("/sign-in")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', form.text)
    assert csrf is not None
    shown = client.post("/sign-in", data={"email": "nobody@example.org", "password": "wrong-password-1",
                                          "csrf_token": csrf.group(1)},
                        headers={"Referer": "http://testserver/sign-in?next=/tokens"})
    assert shown.status_code in (200, 400, 401)
    target = _switch_target(shown.text)
    assert target == "/sign-in%3Fnext%3D/tokens"
    switched = client.get(f"/lang/en?next={target}", follow_redirects=True)
    assert switched.status_code == 200  # was 405: the switch sent a GET to the POST-only address
    assert "Sign in" in switched.text


def test_a_foreign_referer_is_not_followed(client) -> None:  # type: ignore[no-untyped-def]
    form = client.get("/sign-in")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', form.text)
    assert csrf is not None
    shown = client.post("/sign-in", data={"email": "x@example.org", "password": "wrong-password-1",
                                          "csrf_token": csrf.group(1)},
                        headers={"Referer": "https://evil.example/phish"})
    assert _switch_target(shown.text) == "/"


def test_the_favicon_is_served(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/favicon.ico")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("image/svg+xml")
    assert r.text.startswith("<svg")
