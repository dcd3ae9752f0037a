"""/api/docs as a developer sees it: Swagger UI lists the operations, under the portal's CSP."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_the_api_reference_lists_the_operations(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    problems: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: None if r.url.startswith((live_server, "data:", "blob:")) else outside.append(r.url))
    page.goto("/api/docs")
    page.wait_for_selector(".opblock", timeout=20_000)
    # Swagger UI draws a long list of operations as the reader scrolls (only what is in view is in
    # the page), so the count comes from the document it loaded, and an operation is found as a
    # developer finds it: by typing in the filter box.
    assert page.evaluate("window.ui.specSelectors.operations().size") >= 150
    page.fill(".operation-filter-input", "catalog")
    search = page.locator(".opblock", has_text="/api/v1/catalog/search")
    search.wait_for(timeout=10_000)
    assert search.locator(".opblock-summary-description").inner_text() == "Search the catalogue"
    assert page.locator(".version-stamp, .version", has_text="OAS 3.1").count() >= 1
    assert page.locator("button.authorize").count() == 1  # the bearer token is declared
    search.locator(".opblock-summary").click()  # an operation opens with its documented errors
    page.wait_for_selector(".opblock.is-open .responses-table")
    assert page.locator(".opblock.is-open .response[data-code='422']").count() == 1
    assert problems == []
    assert outside == []
