"""The error hierarchy and pydantic errors turned into bilingual domain errors."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qianshu.core import errors
from qianshu.core.errors import InvalidInput, QianshuError
from qianshu.core.forms import FormInvalid, validate_form
from qianshu.core.validation import all_errors, error_from_details


@pytest.mark.parametrize(
    ("cls", "status", "code"),
    [
        (errors.QianshuError, 500, "internal"),
        (errors.InvalidInput, 422, "invalid_input"),
        (errors.NotAuthenticated, 401, "not_authenticated"),
        (errors.PermissionDenied, 403, "permission_denied"),
        (errors.NotFound, 404, "not_found"),
        (errors.RequestTimeout, 408, "request_timeout"),
        (errors.Conflict, 409, "conflict"),
        (errors.PayloadTooLarge, 413, "payload_too_large"),
        (errors.UnsupportedMedia, 415, "unsupported_media"),
        (errors.TooManyRequests, 429, "too_many_requests"),
    ],
)
def test_each_error_has_its_status_and_stable_code(cls: type[QianshuError], status: int, code: str) -> None:
    err = cls("Not found.")
    assert (err.status, err.code) == (status, code)
    assert isinstance(err, QianshuError)
    assert cls("Not found.", code="custom").code == "custom"


def test_message_is_formatted_for_str_but_kept_as_a_template() -> None:
    err = InvalidInput("{field} is required.", field="name")
    assert str(err) == "name is required."
    assert err.message == "{field} is required."
    assert err.field == "name"
    assert err.params == {"field": "name"}


def test_a_template_with_missing_params_does_not_crash() -> None:
    err = InvalidInput("{field} is too long (at most {max} characters).", field="title")
    assert str(err) == "{field} is too long (at most {max} characters)."
    assert InvalidInput("brace { alone", field="x").message == "brace { alone"


def test_render_and_bilingual() -> None:
    err = InvalidInput("{field} is required.", field="名称")
    assert err.render("zh") == "名称 为必填项。"
    assert err.render("en") == "名称 is required."
    assert err.bilingual() == "名称 为必填项。 / 名称 is required."
    untranslated = QianshuError("No Chinese for this one")
    assert untranslated.bilingual() == "No Chinese for this one"


class Sample(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=2, max_length=5)
    count: int = Field(default=1, ge=1, le=10)
    kind: Literal["a", "b"] = "a"
    code: str = Field(default="1", pattern=r"^\d+$")
    tags: list[str] = Field(default_factory=list, max_length=2)


def first_error(data: dict[str, object]) -> InvalidInput:
    with pytest.raises(ValidationError) as excinfo:
        Sample.model_validate(data)
    err = error_from_details(excinfo.value.errors())
    assert isinstance(err, InvalidInput)
    assert err.code == "invalid_input"
    return err


@pytest.mark.parametrize(
    ("data", "field", "en", "zh"),
    [
        ({}, "label", "label is required.", "label 为必填项。"),
        ({"label": "abcdef"}, "label", "label is too long (at most 5 characters).",
         "label 过长（最多 5 个字符）。"),
        ({"label": "a"}, "label", "label is too short (at least 2 characters).",
         "label 过短（至少 2 个字符）。"),
        ({"label": "ab", "count": 11}, "count", "count must be at most 10.", "count 不能大于 10。"),
        ({"label": "ab", "count": 0}, "count", "count must be at least 1.", "count 不能小于 1。"),
        ({"label": "ab", "count": "many"}, "count", "count must be a whole number.", "count 必须是整数。"),
        ({"label": "ab", "kind": "c"}, "kind", "kind must be one of: 'a' or 'b'.", "kind 必须是以下之一：'a' or 'b'。"),
        ({"label": "ab", "code": "x1"}, "code", "code is not in the expected format.", "code 格式不正确。"),
        ({"label": "ab", "extra": 1}, "extra", "Unknown field: extra.", "未知字段：extra。"),
        ({"label": "ab", "tags": ["1", "2", "3"]}, "tags", "tags is too long (at most 2 characters).",
         "tags 过长（最多 2 个字符）。"),
        ({"label": 5}, "label", "label is invalid.", "label 无效。"),  # an unmapped type: the generic message
    ],
)
def test_pydantic_errors_become_bilingual_messages(data: dict[str, object], field: str, en: str,
                                                   zh: str) -> None:
    err = first_error(data)
    assert err.field == field
    assert err.render("en") == en
    assert err.render("zh") == zh


@pytest.mark.parametrize(
    ("loc", "field"),
    [(("body", "name"), "name"), (("query", "page"), "page"), (("body", "items", 0, "name"), "items.0.name"),
     ((), "body"), (("body",), "body")],
)
def test_the_request_part_is_dropped_from_the_field_path(loc: tuple[object, ...], field: str) -> None:
    err = error_from_details([{"type": "missing", "loc": loc}])
    assert err.field == field


def test_a_field_named_like_a_request_part_keeps_its_name() -> None:
    assert error_from_details([{"type": "missing", "loc": ("body", "path")}]).field == "path"


def test_a_field_name_with_a_translation_is_shown_in_chinese() -> None:
    err = error_from_details([{"type": "missing", "loc": ("body", "name")}])
    assert err.render("zh") == "名称 为必填项。"  # "name" = "名称" in a capability catalog
    assert err.render("en") == "name is required."


def test_invalid_json_and_empty_details() -> None:
    assert error_from_details([{"type": "json_invalid", "loc": ("body", 3), "ctx": {}}]).render("zh") \
        == "请求体不是有效的 JSON。"
    assert error_from_details([]).render("en") == "body is invalid."


def test_a_domain_error_carried_by_pydantic_is_passed_through() -> None:
    original = InvalidInput("{field}: {reason}", field="uscc", reason="contains spaces")
    assert error_from_details([{"type": "value_error", "loc": ("uscc",), "ctx": {"error": original}}]) is original


def test_all_errors_lists_each_problem() -> None:
    with pytest.raises(ValidationError) as excinfo:
        Sample.model_validate({"count": 99, "kind": "z"})
    fields = [e.field for e in all_errors(excinfo.value.errors())]
    assert sorted(fields) == ["count", "kind", "label"]


def test_validate_form_ignores_other_fields_and_collects_every_error() -> None:
    parsed = validate_form(Sample, {"label": "黔数", "count": "3", "csrf_token": "t"})
    assert (parsed.label, parsed.count) == ("黔数", 3)
    with pytest.raises(FormInvalid) as excinfo:
        validate_form(Sample, {"count": 99, "kind": "z", "csrf_token": "t"})
    assert isinstance(excinfo.value, InvalidInput)
    assert sorted(e.field or "" for e in excinfo.value.errors) == ["count", "kind", "label"]
    assert excinfo.value.__cause__ is None
