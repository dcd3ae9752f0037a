"""Portal forms: validate a whole form at once, and show every field's error beside its field.

A form is validated against its Pydantic schema in one go (Pydantic reports every field it
refuses, not just the first); each refusal becomes a ``FieldError`` that names the field by the
label the person sees on the page, in the page's language (the label is an English message id,
translated with the message, so a sentence never mixes languages). A domain error raised by the
service after validation (``QianshuError``, which may name a field) becomes one more entry.

``Form`` is what a template gets: the values the person typed (kept, except secrets) and the
errors, with the attributes that tie an input to its message (``aria-invalid``,
``aria-describedby``). The summary at the top of the form (``web/templates/form_errors.html``)
lists them all and is focused when the page loads. The HTTP glue that rolls back and re-renders
is ``core.http.submit_form``; this module knows nothing of HTTP.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from markupsafe import Markup, escape
from pydantic import BaseModel, ValidationError

from qianshu.core.errors import InvalidInput, QianshuError
from qianshu.core.i18n import N_, translate
from qianshu.core.validation import error_from_details

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
# Never sent back to the browser in a re-rendered form.
SECRET_FIELDS = frozenset({"password", "csrf_token"})
SUMMARY_ITEM = N_("{field}: {message}")


class FormInvalid(InvalidInput):
    """Several fields refused at once. Its own message is the first one's (the API shows that);
    the portal shows ``errors``, every one of them."""

    def __init__(self, errors: Sequence[QianshuError]) -> None:
        first = errors[0]
        super().__init__(first.message, code=first.code, **first.params)
        self.field = first.field
        self.errors = list(errors)


def _field_of(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "form")]
    return ".".join(parts)


def validate_form(model: type[M], data: Mapping[str, Any], refused: Sequence[QianshuError] = ()) -> M:
    """``data`` as ``model``, or ``FormInvalid`` with every field's error.

    Only the schema's own fields are read: a portal form carries others (the CSRF token, where to
    go next) that are not the schema's business, where the API refuses unknown fields. ``refused``
    are the errors of fields whose text could not be turned into the schema's units (``Typed``):
    they are reported with the others, and the schema does not report those fields again."""
    failed = {e.field for e in refused if e.field}
    wanted = {k: v for k, v in data.items() if k in model.model_fields and k not in failed}
    errors: list[QianshuError] = list(refused)
    try:
        result = model.model_validate(wanted)
    except ValidationError as exc:
        for detail in exc.errors():
            if detail.get("type") == "string_too_short" and not str(detail.get("input", "")).strip():
                detail = {**detail, "type": "missing"}  # an empty field is a missing one, not a short one
            error = error_from_details([detail])
            where = _field_of(detail.get("loc", ()))
            if where and error.field != where:  # a validator's own error: the field is where it failed
                error.field = where
            if error.field not in failed:
                errors.append(error)
    if errors:
        raise FormInvalid(errors) from None
    return result


class Typed:
    """Text typed in the page's units (yuan, percent, a file) turned into the schema's (fen, basis
    points, base64), each refusal kept, to be reported with the schema's own errors: call it with
    the conversion, pass ``errors`` to ``validate_form``. A refused conversion gives ``None``."""

    def __init__(self) -> None:
        self.errors: list[QianshuError] = []

    def __call__(self, convert: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        try:
            return convert(*args, **kwargs)
        except InvalidInput as exc:
            self.errors.append(exc)
            return None


@dataclass(frozen=True)
class FieldError:
    field: str  # the input's key ("" for the whole form)
    label: str  # the label the person sees, in the page's language
    message: str  # the message, in the page's language, naming the label
    form: str = ""  # the form's name, on a page with several

    @property
    def anchor(self) -> str:
        return field_id(self.field, self.form) if self.field else "form-errors"


def field_id(name: str, form: str = "") -> str:
    """The input's ``id``: unique on the page, where several forms have a field of one name."""
    return "f-" + (f"{form}-" if form else "") + name.replace(".", "-").replace("_", "-")


def _label_for(name: str | None, labels: Mapping[str, str]) -> tuple[str, str | None]:
    """(the form's key, its label message id) for an error's field: the longest known prefix,
    so that ``quality.row_count.score`` lands on ``quality.row_count`` or ``quality``."""
    if not name:
        return "", None
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        key = ".".join(parts[:end])
        if key in labels:
            return key, labels[key]
    return "", None


def field_errors(exc: QianshuError, labels: Mapping[str, str], lang: str) -> list[FieldError]:
    """Every error ``exc`` holds, each rendered in ``lang`` naming its field's label. An error
    whose field the form does not show is the whole form's (the summary shows it)."""
    found: list[FieldError] = []
    seen: set[str] = set()
    for error in getattr(exc, "errors", None) or [exc]:
        key, label = _label_for(error.field, labels)
        params = dict(error.params)
        if label is not None:
            params["field"] = label
        message = translate(error.message, lang, **params)
        if key in seen and key:
            continue  # one message per field, the first (Pydantic reports the most basic first)
        seen.add(key)
        label_text = translate(label, lang) if label is not None else ""
        if label_text and "{field}" not in error.message:
            message = translate(SUMMARY_ITEM, lang, field=label_text, message=message)
        found.append(FieldError(key, label_text, message))
    return found


@dataclass
class Form:
    """A form's values and errors, for its template."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: list[FieldError] = field(default_factory=list)
    name: str = ""  # which of a page's forms was posted, where a page has several

    @classmethod
    def kept(cls, data: Mapping[str, Any], errors: Iterable[FieldError] = (), name: str = "") -> Form:
        return cls({k: v for k, v in data.items() if k not in SECRET_FIELDS},
                   [dataclasses.replace(e, form=name) for e in errors], name)

    def of(self, name: str) -> Form:
        """This form if it is the one called ``name``, else an empty one (a page with several
        forms keeps the input and shows the field errors of the one that was posted only)."""
        return self if self.name == name else Form(name=name)

    def value(self, name: str, default: Any = "") -> Any:
        value = self.values.get(name)
        return default if value is None else value

    def has(self, name: str, option: str) -> bool:
        """A checkbox group or a multiple select: was ``option`` chosen?"""
        value = self.values.get(name)
        return option in value if isinstance(value, (list, tuple, set)) else value == option

    def error(self, name: str) -> str:
        return next((e.message for e in self.errors if e.field == name), "")

    def id_of(self, name: str) -> str:
        """The field's ``id`` (the summary links to it), for a template that writes its own attributes."""
        return field_id(name, self.name)

    def attrs(self, name: str) -> Markup:
        """``id`` for the summary's link, and on an error ``aria-invalid`` and the message's id."""
        ident = self.id_of(name)
        if not self.error(name):
            return Markup(f'id="{ident}"')  # noqa: S704 - built from the form's own key
        return Markup(f'id="{ident}" aria-invalid="true" aria-describedby="{ident}-error"')  # noqa: S704

    def message(self, name: str) -> Markup:
        """The field's error, to put beside it (nothing when it has none)."""
        text = self.error(name)
        if not text:
            return Markup("")
        ident = self.id_of(name)
        return Markup(f'<span class="field-error" id="{ident}-error">{escape(text)}</span>')  # noqa: S704

    @property
    def general(self) -> list[FieldError]:
        return [e for e in self.errors if not e.field]
