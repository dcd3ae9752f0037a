"""Fragments of a page rendered once and kept (core/fragments.py): the main navigation and the
search page's pickers. What a reader sees must not change: each reader's own links, the page's
language, the selected value."""

from __future__ import annotations

import re

from qianshu.core.actor import Actor
from qianshu.core.fragments import Fragments, reader_key
from tests.accounts.test_portal import sign_in
from tests.web.test_pickers import _select


def _nav(page: str) -> str:
    match = re.search(r'<nav class="mainnav">.*?</nav>', page, re.S)
    assert match, "no main navigation on the page"
    return match.group(0)


def test_each_reader_sees_their_own_navigation_however_often_it_was_shown(client, make) -> None:  # type: ignore[no-untyped-def]
    anonymous = _nav(client.get("/catalog").text)
    assert 'href="/audit"' not in anonymous
    assert 'href="/tokens"' not in anonymous
    operator = make.operator()
    assert sign_in(client, operator.email).status_code == 303
    for _ in range(2):  # the second page comes from the kept fragment
        staff = _nav(client.get("/catalog").text)
        assert 'href="/audit"' in staff
        assert 'href="/tokens"' in staff
    client.cookies.set("qs_lang", "en")
    assert ">Audit trail</a>" in _nav(client.get("/catalog").text)
    client.cookies.clear()
    assert _nav(client.get("/catalog").text) == anonymous  # nothing of the operator's links
    merchant = make.user()
    assert sign_in(client, merchant.email).status_code == 303
    theirs = _nav(client.get("/catalog").text)
    assert 'href="/tokens"' in theirs
    assert 'href="/audit"' not in theirs


def test_the_pickers_mark_each_requests_own_value(client) -> None:  # type: ignore[no-untyped-def]
    for code in ("G54", "C13", "G54", ""):
        page = client.get("/catalog", params={"industry": code}).text
        assert re.findall(r'<option value="([^"]*)"[^>]* selected>', _select(page, "industry")) == [code]
    odd = client.get("/catalog", params={"industry": "<b>X99</b>"}).text  # not on the list: kept, escaped
    assert '<option value="&lt;b&gt;X99&lt;/b&gt;" selected>&lt;b&gt;X99&lt;/b&gt;</option>' in odd


def test_kept_fragments_are_bounded_and_keyed_by_language() -> None:
    fragments = Fragments(size=2)
    rendered: list[str] = []

    def block(text: str):  # type: ignore[no-untyped-def]
        def caller() -> str:
            rendered.append(text)
            return text

        return caller

    call = fragments.__call__  # the pass_context wrapper takes the context first
    for lang, key in (("zh", 1), ("zh", 1), ("en", 1), ("zh", 2), ("zh", 3)):
        call({"lang": lang}, "k", key, caller=block(f"{lang}{key}"))  # type: ignore[arg-type]
    assert rendered == ["zh1", "en1", "zh2", "zh3"]
    assert len(fragments) == 2


def test_a_readers_key_is_what_the_policy_reads() -> None:
    one = Actor(user_id=7, org_id=3, org_type="data_merchant", ip="10.0.0.1", display_name="张三")
    other_address = Actor(user_id=7, org_id=3, org_type="data_merchant", ip="10.0.0.2", display_name="张三")
    assert reader_key(one) == reader_key(other_address)
    assert reader_key(one) != reader_key(Actor(user_id=7, org_id=3, org_type="bank", ip="10.0.0.1"))
    assert reader_key(None) is None
