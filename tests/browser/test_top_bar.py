"""In a browser, on the demo: the top bar is one line for every demo user, in both languages, in a
1280 px window (the bank's and the caseworker's English bars wrapped onto a second line, pushing the
"Public record" menu under the brand). Screenshots (``QIANSHU_SCREENSHOTS``) for a person to look at."""

from __future__ import annotations

import pytest

from qianshu.demo.seed import DEMO_LOGINS
from tests.browser.test_every_page import VIEWPORT, _sign_in
from tests.browser.test_sharing_forms import _shots

pytestmark = pytest.mark.browser

# The top of every item of the bar: the brand, each link and menu of the navigation, the session's links.
TOPS = """() => [...document.querySelectorAll(
    'header.topbar > .brand, .mainnav > a, .mainnav > details > summary, header.topbar .session > *')]
    .filter(e => e.offsetParent !== null)
    .map(e => [e.textContent.trim().slice(0, 20), Math.round(e.getBoundingClientRect().top)])"""


def test_the_top_bar_is_one_line_for_every_demo_user(browser, live_server: str) -> None:  # type: ignore[no-untyped-def]
    wrapped: dict[str, list[str]] = {}
    for login in DEMO_LOGINS:
        if "pending" in login.email:  # not yet approved: signs in to a page without the full bar
            continue
        context = browser.new_context(base_url=live_server, viewport=VIEWPORT)
        page = context.new_page()
        try:
            _sign_in(page, login.email)
            for lang in ("zh", "en"):
                page.goto(f"/lang/{lang}?next=/")
                # a failed sign-in would leave the short bar of a visitor, and the test pass for nothing
                assert page.locator("#inbox-link").count() == 1, f"{login.email}: not signed in (at {page.url})"
                tops = page.evaluate(TOPS)
                assert len(tops) >= 4, f"{login.email}: no top bar"
                first = min(top for _, top in tops)
                below = [f"{lang}: {name!r}" for name, top in tops if top > first + 20]
                if below:
                    wrapped[login.email] = wrapped.get(login.email, []) + below
                    if (folder := _shots()) is not None:
                        page.screenshot(path=str(folder / f"top-bar-{login.email}-{lang}.png"),
                                        clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": 160})
        finally:
            context.close()
    assert not wrapped, f"the top bar wraps onto a second line: {wrapped}"
