"""In a browser, on the demo: a file field speaks the page's language (web/templates/file_input.html).
Chromium's own control says "Choose File" and "No file chosen" in the browser's language (English
here) whatever the page's; ours shows a button and the chosen file's name in Chinese or English,
opens the file dialog from the keyboard with a visible focus ring, and sends the file; without
JavaScript the browser's own control is shown and sends it too. Screenshots (``QIANSHU_SCREENSHOTS``)
for a person to look at."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser.test_sharing_forms import _shot, _shots, _sign_in

pytestmark = pytest.mark.browser

WORDS = {"zh": ("选择文件", "未选择文件"), "en": ("Choose a file", "No file chosen")}
BROWSERS_OWN = ("Choose File", "No file chosen")  # Chromium's English words for its own control


def _open_upload(page, lang: str) -> None:  # type: ignore[no-untyped-def]
    """The civil affairs department's resource page, whose form uploads a new version of its feed."""
    _sign_in(page, "civilaffairs@qianshu.demo", lang)
    page.goto("/sharing?q=civil_affairs")
    page.click("a:has-text('社会救助对象信息')" if lang == "zh" else "a:has-text('Social assistance recipients')")
    page.wait_for_url("**/sharing/resources/*")


def _feed(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_text("household_id,assistance,monthly_amount_fen\n52263601020300001,dibao,45000\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_file_field_speaks_the_page_language(page, lang: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    button_text, none_text = WORDS[lang]
    # Playwright asks the browser to intercept file dialogs without waiting for the answer, when the
    # first listener is added and again after the last is removed; under load the key press could
    # overtake that request and the dialog went unseen (a CI run waited 30 s for it). One listener
    # for the page's life, added before signing in, keeps interception on before any press.
    page.on("filechooser", lambda chooser: None)
    _open_upload(page, lang)
    field = page.locator("#upload label.file-field")
    button, chosen, native = (field.locator(".file-field-button"), field.locator(".file-field-chosen"),
                              field.locator("input[type=file]"))
    assert button.is_visible()
    assert button.inner_text() == button_text
    assert chosen.inner_text() == none_text
    box = native.bounding_box()
    assert box is not None
    assert max(box["width"], box["height"]) <= 1  # out of sight, still in the page
    if lang == "zh":  # not a word of English in the form (the page shows the resource's field names)
        assert not [w for w in BROWSERS_OWN if w in page.locator("body").inner_text()]
        assert re.findall("[A-Za-z]+", page.locator("#upload").inner_text()) == []
    _shot(page, f"file-field-{lang}")

    # the keyboard reaches the hidden input (back from the form's button); its focus ring shows on ours
    page.focus("#upload button[type=submit]")
    page.keyboard.press("Shift+Tab")
    assert native.evaluate("input => input === document.activeElement")
    ring = button.evaluate("b => [getComputedStyle(b).outlineStyle, getComputedStyle(b).outlineWidth]")
    assert ring == ["solid", "3px"]
    first = _feed(tmp_path, f"第一份-{lang}.csv")
    with page.expect_file_chooser() as dialog:
        page.keyboard.press("Space")
    dialog.value.set_files(str(first))
    assert chosen.inner_text() == first.name
    if (folder := _shots()) is not None:
        field.screenshot(path=str(folder / f"file-field-focused-{lang}.png"))

    # a click on our button opens the dialog too; set_input_files chooses the file sent
    with page.expect_file_chooser():
        button.click()
    sent = _feed(tmp_path, f"recipients-chosen-{lang}.csv")
    native.set_input_files(str(sent))
    assert chosen.inner_text() == sent.name
    if (folder := _shots()) is not None:
        field.screenshot(path=str(folder / f"file-field-chosen-{lang}.png"))
    page.click("#upload button[type=submit]")
    page.wait_for_load_state()
    assert sent.name in page.locator("#files").inner_text()  # stored as a new version
    assert chosen.inner_text() == none_text


def test_without_javascript_the_browser_control_sends_the_file(browser, live_server: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_server, locale="zh-CN", java_script_enabled=False)
    page = context.new_page()
    try:
        _open_upload(page, "zh")
        native = page.locator("#upload input[type=file]")
        box = native.bounding_box()
        assert box is not None
        assert box["width"] > 1  # the browser's own control
        assert box["height"] > 1
        assert not page.locator("#upload .file-field-button").is_visible()
        _shot(page, "file-field-no-script-zh")
        sent = _feed(tmp_path, "recipients-no-script.csv")
        native.set_input_files(str(sent))
        page.click("#upload button[type=submit]")
        page.wait_for_load_state()
        assert sent.name in page.locator("#files").inner_text()
    finally:
        context.close()

