"""Pages extend their read models through one helper in core."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from qianshu.core.read_models import extend, fields_of


@dataclass(frozen=True)
class View:
    title: str
    may_edit: bool


@dataclass(frozen=True)
class Page(View):
    error: str = ""


def test_a_page_keeps_every_field_of_its_view_and_adds_its_own() -> None:
    page = extend(Page, View("数据集", True), error="必填")
    assert (page.title, page.may_edit, page.error) == ("数据集", True, "必填")


def test_a_page_field_that_repeats_the_view_is_refused_not_overridden() -> None:
    with pytest.raises(TypeError, match="may_edit"):
        extend(Page, View("数据集", False), may_edit=True)


def test_only_a_dataclass_instance_is_a_read_model() -> None:
    assert fields_of(View("a", False)) == {"title": "a", "may_edit": False}
    with pytest.raises(TypeError):
        fields_of({"title": "a"})
    with pytest.raises(TypeError):
        fields_of(View)
