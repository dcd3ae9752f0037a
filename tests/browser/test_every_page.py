"""Every page of the portal, as every kind of demo user, in both languages, looked at as a person would.

A crawler signs in as each demo role, follows the portal's own links from the home page and the
navigation (a few pages of each address pattern; the bank and the appraiser from their finance
pages, following the links to the pages only they see), and fails on what a person would see: an error
page, a page wider than the window, a console error, a request that leaves the server, a raw key
(``snake_case`` or ``dotted.key``) on screen, a top bar on two lines, a checkbox far from its words, English words on a
Chinese page, or Chinese on an English page where English exists (text the data only has in
Chinese sits in an element marked ``lang="zh-CN"``). Screenshots of every page go to
``QIANSHU_SCREENSHOTS``, or a temporary folder.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from qianshu.demo.seed import DEMO_PASSWORD

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1280, "height": 800}
PAGES_PER_PATTERN = 2  # pages of one address pattern (/catalog/{n}) per role and language
PAGES_PER_ROLE = 24
ROLES = {
    "anonymous": None,
    "operator": "operator@qianshu.demo",
    "reviewer": "reviewer@qianshu.demo",
    "auditor": "auditor@qianshu.demo",
    "merchant": "merchant.traffic@qianshu.demo",
    "buyer": "buyer.logistics@qianshu.demo",
    "bank": "bank@qianshu.demo",
    "appraiser": "service.provider@qianshu.demo",
}
# Roles crawled for the pages only they see (the rest of the portal, the forced sales and the
# accounting pack included, is the other roles'): role → (first page, addresses followed).
FOCUSED = {
    "bank": ("/finance/pledges", ("/finance/pledges", "/finance/lookup", "/finance/sales/")),
    "appraiser": ("/finance/valuations", ("/finance/valuations", "/finance/lookup")),
}
# Addresses a crawler must not follow: they act, download a file, or are not pages.
SKIP = re.compile(r"^/(sign-out|lang/|api/|static/|healthz|favicon)|\.(pdf|ttl|jsonld|json|csv|parquet|zip|xlsx)$"
                  r"|/download|/export|[?&]format=")
SNAKE_KEY = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")
DOTTED_KEY = re.compile(r"\b[a-z]+\.[a-z_]+(?:\.[a-z_]+)*\b")
CJK = re.compile(r"[\u3400-\u9fff]")
ENGLISH_WORD = re.compile(r"\b[A-Za-z]{4,}\b")
# Words a Chinese page may show: names, units, formats and standards that have no Chinese form.
ALLOWED_ENGLISH = {
    "Qianshu", "English", "JSON", "JSON-LD", "Turtle", "DCAT", "ODRL", "HTTPS", "HTTP", "Merkle", "SHA", "UTC",
    "Ed25519", "Parquet", "XLSX", "GB/T", "RFC", "USCC", "OpenAPI", "Swagger", "CKAN", "PostgreSQL", "SQLite",
    "demo", "qianshu", "Bearer", "Base64", "base64", "hash", "Apache", "Creative", "Commons", "Attribution",
    "REST", "Authorization", "Delta", "Sharing", "Scalar", "ReDoc",
    # file formats, as in a file's name
    "parquet", "jsonl", "xlsx", "xls", "ods", "tsv", "txt", "json", "pdf", "PDF", "CSV", "csv",
}
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def _sign_in(page, email: str) -> None:  # type: ignore[no-untyped-def]
    page.goto("/sign-in")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("#sign-in-submit")
    page.wait_for_load_state()


def _pattern(link: str) -> str:
    """/catalog/12 and /catalog/13 are one pattern; so are /catalog?industry=A and /catalog?region=52."""
    return re.sub(r"/\d+", "/{n}", link.partition("?")[0])


def _visible_text(page, exclude_lang: str | None) -> str:  # type: ignore[no-untyped-def]
    """The text a person reads, leaving out code samples and, if asked, elements in another language."""
    return str(page.evaluate(
        """(exclude) => {
            const other = el => exclude && el.closest(`[lang^="${exclude}"]`);
            const skip = el => el.closest('code, pre, kbd, samp, script, style, [data-raw], .hash, .mono')
                || (other(el) && other(el) !== document.documentElement);
            const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
            const parts = [];
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                const el = node.parentElement;
                if (!el || skip(el)) continue;
                const style = getComputedStyle(el);
                if (style.display === 'none' || style.visibility === 'hidden') continue;
                parts.push(node.textContent);
            }
            return parts.join(' ');
        }""", exclude_lang))


# The top of every item of the top bar: the brand, each link and menu of the navigation, the session's links.
TOP_BAR = """() => [...document.querySelectorAll(
    'header.topbar > .brand, .mainnav > a, .mainnav > details > summary, header.topbar .session > *')]
    .filter(e => e.offsetParent !== null)
    .map(e => [e.textContent.trim().slice(0, 20), Math.round(e.getBoundingClientRect().top)])"""


def top_bar_wraps(page) -> list[str]:  # type: ignore[no-untyped-def]
    """The top bar's items that sit below its first line (a bar that wrapped pushes menus under the brand)."""
    tops = page.evaluate(TOP_BAR)
    first = min((top for _, top in tops), default=0)
    return [name for name, top in tops if top > first + 20]


def _problems(page, lang: str) -> list[str]:  # type: ignore[no-untyped-def]
    found = []
    if wrapped := top_bar_wraps(page):
        found.append(f"the top bar wraps onto a second line: {wrapped}")
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > VIEWPORT["width"] + 1:
        found.append(f"page is {width} px wide in a {VIEWPORT['width']} px window")
    if page.locator("body").inner_text().strip() == "":
        found.append("blank page")
    far = page.evaluate(
        """() => [...document.querySelectorAll('label input[type=checkbox], label input[type=radio]')]
            .filter(box => box.offsetParent !== null).map(box => {
                const label = box.closest('label'), range = document.createRange();
                const text = [...label.childNodes].find(n => n.nodeType === 3 && n.textContent.trim());
                if (!text) return null;
                range.selectNodeContents(text);
                const b = box.getBoundingClientRect(), t = range.getBoundingClientRect();
                const apart = Math.max(t.left - b.right, b.left - t.right, 0);
                const off = Math.abs((b.top + b.bottom) / 2 - (t.top + t.bottom) / 2);
                return apart > 24 || off > 12 ? text.textContent.trim().slice(0, 30) : null;
            }).filter(Boolean)""")
    if far:
        found.append(f"checkboxes far from their words: {far[:5]}")
    if lang == "zh":
        text = EMAIL.sub(" ", _visible_text(page, None))
        keys = set(SNAKE_KEY.findall(text)) | {k for k in DOTTED_KEY.findall(text) if "@" not in k}
        if keys:
            found.append(f"raw keys on screen: {sorted(keys)[:8]}")
        words = {w for w in ENGLISH_WORD.findall(EMAIL.sub(" ", _visible_text(page, "en"))) if w not in ALLOWED_ENGLISH}
        if words:
            found.append(f"English words on a Chinese page: {sorted(words)[:8]}")
    else:
        text = EMAIL.sub(" ", _visible_text(page, "zh"))
        keys = set(SNAKE_KEY.findall(text))
        if keys:
            found.append(f"raw keys on screen: {sorted(keys)[:8]}")
        if chinese := CJK.findall(text):
            found.append(f"Chinese on an English page outside lang=zh-CN elements: {''.join(chinese[:20])}")
    return found


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("role", list(ROLES))
def test_every_page_reads_well(browser, live_server: str, role: str, lang: str,  # type: ignore[no-untyped-def]
                               tmp_path: Path) -> None:
    shots = Path(os.environ.get("QIANSHU_SCREENSHOTS", tmp_path)) / f"{role}-{lang}"
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(base_url=live_server, locale="zh-CN" if lang == "zh" else "en-US",
                                  viewport=VIEWPORT)
    console: list[str] = []
    outside: list[str] = []
    host = urlsplit(live_server).netloc
    page = context.new_page()
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: outside.append(r.url) if urlsplit(r.url).netloc not in (host, "") and
            not r.url.startswith(("data:", "blob:")) else None)
    context.add_cookies([{"name": "qs_lang", "value": lang, "url": live_server}])
    if email := ROLES[role]:
        _sign_in(page, email)
    start, prefixes = FOCUSED.get(role, ("/", ("/",)))
    queue, seen, per_pattern = [start], set(), defaultdict(int)
    failures: dict[str, list[str]] = {}
    visited = 0
    while queue and visited < PAGES_PER_ROLE:
        path = queue.pop(0)
        if path in seen or per_pattern[_pattern(path)] >= PAGES_PER_PATTERN:
            continue
        seen.add(path)
        per_pattern[_pattern(path)] += 1
        console.clear()
        response = page.goto(path)
        if response is not None and response.status == 503:  # busy: a person waits and reloads, once
            page.wait_for_timeout(1000 * min(5, int(response.headers.get("retry-after", "1") or 1)))
            console.clear()
            response = page.goto(path)
        visited += 1
        name = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_") or "home"
        page.screenshot(path=str(shots / f"{visited:02d}-{name}.png"), full_page=True)
        problems = _problems(page, lang)
        if response is None or response.status >= 400:
            problems.append(f"answered {response.status if response else 'nothing'}")
        problems += [f"console error: {c}" for c in console]
        if problems:
            failures[path] = problems
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
            target = urlsplit(href)
            if target.netloc not in ("", host) or not target.path.startswith(prefixes) or SKIP.search(target.path):
                continue
            link = target.path + (f"?{target.query}" if target.query else "")
            if link not in seen:
                queue.append(link)
    context.close()
    assert not outside, f"requests left the server: {outside[:5]}"
    assert visited >= 3, "the crawler found almost no pages"
    assert not failures, "\n".join(f"{path}: {'; '.join(p)}" for path, p in sorted(failures.items()))
