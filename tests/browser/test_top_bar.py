"""In a browser, on the demo: the top bar is one line for every kind of demo user, in both
languages, in a 1280 px window (the bank's and the caseworker's English bars wrapped onto a second
line, pushing the "Public record" menu under the brand). The page sweep (``test_every_page``)
checks the bar of its roles on every page it visits; this test signs in as one user of each
other kind (the navigation depends on the organisation's kind and the user's role, not on the
user). Screenshots (``QIANSHU_SCREENSHOTS``) for a person to look at."""

from __future__ import annotations

import pytest

from qianshu.demo.seed import DEMO_LOGINS, DEMO_ORGS
from tests.browser.test_every_page import ROLES, VIEWPORT, _sign_in, top_bar_wraps
from tests.browser.test_sharing_forms import _shots

pytestmark = pytest.mark.browser

ORG_TYPE = {f"{o.key.replace('_', '.')}@qianshu.demo": o.org_type for o in DEMO_ORGS}


def _kinds() -> list[str]:
    """One approved demo user per kind of navigation the page sweep does not sign in as."""
    swept = {ORG_TYPE.get(email, email) for email in ROLES.values() if email}
    chosen: dict[str, str] = {}
    for login in DEMO_LOGINS:
        kind = ORG_TYPE.get(login.email, login.email)  # staff and caseworkers: each their own kind
        if "pending" not in login.email and kind not in swept:  # a pending user has only a visitor's bar
            chosen.setdefault(kind, login.email)
    return list(chosen.values())


def test_the_top_bar_is_one_line_for_every_kind_of_demo_user(browser, live_server: str) -> None:  # type: ignore[no-untyped-def]
    emails = _kinds()
    assert len(emails) >= 5, emails  # the bureau, the voucher administrator, a compute provider, the caseworkers
    wrapped: dict[str, list[str]] = {}
    for email in emails:
        context = browser.new_context(base_url=live_server, viewport=VIEWPORT)
        page = context.new_page()
        try:
            _sign_in(page, email)
            for lang in ("zh", "en"):
                page.goto(f"/lang/{lang}?next=/inbox")
                # a failed sign-in would leave the short bar of a visitor, and the test pass for nothing
                assert page.locator("#inbox-link").count() == 1, f"{email}: not signed in (at {page.url})"
                if below := top_bar_wraps(page):
                    wrapped[email] = wrapped.get(email, []) + [f"{lang}: {name!r}" for name in below]
                    if (folder := _shots()) is not None:
                        page.screenshot(path=str(folder / f"top-bar-{email}-{lang}.png"),
                                        clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": 160})
        finally:
            context.close()
    assert not wrapped, f"the top bar wraps onto a second line: {wrapped}"
