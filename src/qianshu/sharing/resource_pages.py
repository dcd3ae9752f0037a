"""The portal form a department publishes (or changes) one of its data resources with: names,
fields with their types and meanings, update frequency, legal basis, sharing class and conditions.
The same service as ``POST /api/v1/sharing/resources``; a refused form comes back with every
error beside its field (a field row's own inputs included), nothing written. Who gets the form is
the read model's answer (``read_models.resource_editor``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from qianshu.accounts.deps import SignedInActor
from qianshu.core.errors import QianshuError
from qianshu.core.forms import Form, validate_form
from qianshu.core.http import DbSession, PostedForm, form_fields, form_refused, render, see_other
from qianshu.core.i18n import N_
from qianshu.sharing import read_models, schemas, service
from qianshu.sharing.models import FIELD_TYPES, FREQUENCIES, SHARING_CLASSES

router = APIRouter(include_in_schema=False)
BLANK_ROWS = 3  # empty field rows offered below the filled ones
MAX_ROWS = 200
TOP_LABELS = {"code": N_("Code"), "name_zh": N_("Name (Chinese)"), "name_en": N_("Name (English)"),
              "description_zh": N_("Description (Chinese)"), "description_en": N_("Description (English)"),
              "fields": N_("Fields"), "update_frequency": N_("Update frequency"), "legal_basis": N_("Legal basis"),
              "sharing_class": N_("Sharing class"),
              "conditions": N_("Conditions (required for conditional sharing)")}
ROW_LABELS = {"name": N_("Field name"), "type": N_("Type"), "meaning_zh": N_("Meaning (Chinese)"),
              "meaning_en": N_("Meaning (English)")}
ROW_KEYS = tuple(ROW_LABELS)


def _labels(rows: int) -> dict[str, str]:
    labels = dict(TOP_LABELS)
    for i in range(rows):
        labels.update({f"fields.{i}.{key}": label for key, label in ROW_LABELS.items()})
    return labels


@dataclass(frozen=True)
class ResourceFormPage(read_models.ResourceEditor):
    """The form's page: its read model (``read_models.resource_editor``), the rows and the posted form."""

    rows: int = BLANK_ROWS  # field rows shown
    editing: int | None = None  # the resource's id when changing one
    form: Form = field(default_factory=Form)
    classes: tuple[str, ...] = SHARING_CLASSES
    frequencies: tuple[str, ...] = FREQUENCIES
    types: tuple[str, ...] = FIELD_TYPES


def _flat(resource: Any) -> dict[str, Any]:
    """A published resource as the form's values (the field rows as ``fields.N.key``)."""
    data = {k: getattr(resource, k) for k in TOP_LABELS if k != "fields"}
    for i, item in enumerate(resource.fields):
        data.update({f"fields.{i}.{key}": str(item.get(key, "")) for key in ROW_KEYS})
    return data


def _filled_rows(data: dict[str, Any]) -> int:
    used = [i for i in range(MAX_ROWS) if any(str(data.get(f"fields.{i}.{k}", "")).strip() for k in ROW_KEYS)]
    return max(used, default=-1) + 1


def _page(view: read_models.ResourceEditor, form: Form) -> tuple[str, ResourceFormPage]:
    rows = min(_filled_rows(form.values) + BLANK_ROWS, MAX_ROWS)
    editing = view.resource.id if view.resource is not None else None
    return "sharing/resource_form.html", ResourceFormPage(view.resource, rows, editing, form)


@router.get("/sharing/resources/new")
def new_resource(request: Request, db: DbSession, actor: SignedInActor) -> Response:
    template, page = _page(read_models.resource_editor(db, actor),
                           Form(values={"update_frequency": "monthly", "sharing_class": "conditional"}))
    return render(request, template, page)


@router.get("/sharing/resources/{resource_id:int}/edit")
def edit_resource(resource_id: int, request: Request, db: DbSession, actor: SignedInActor) -> Response:
    view = read_models.resource_editor(db, actor, resource_id)
    template, page = _page(view, Form(values=_flat(view.resource)))
    return render(request, template, page)


def _nested(data: dict[str, Any]) -> dict[str, Any]:
    """The form's flat values as ``ResourceIn`` reads them: empty rows dropped, the rest in order."""
    out = {k: data[k] for k in TOP_LABELS if k in data and k != "fields"}
    rows = []
    for i in range(_filled_rows(data)):
        row = {k: str(data.get(f"fields.{i}.{k}", "")).strip() for k in ROW_KEYS}
        if any(row.values()):
            rows.append(row)
    out["fields"] = rows
    return out


@router.post("/sharing/resources")
def publish(request: Request, db: DbSession, actor: SignedInActor, posted: PostedForm) -> Response:
    data = form_fields(posted)
    data.pop("csrf_token", None)
    editing = str(data.pop("editing", "") or "")
    editing_id = int(editing) if editing.isdigit() else None
    nested = _nested(data)
    # Row numbers of the errors are those of the rows sent (empty rows were dropped): renumber the
    # form's values the same way, so each error lands beside its own row.
    kept = {k: v for k, v in data.items() if not k.startswith("fields.")}
    for i, row in enumerate(nested["fields"]):
        kept.update({f"fields.{i}.{k}": v for k, v in row.items()})
    try:
        resource = service.publish_resource(db, actor, validate_form(schemas.ResourceIn, nested))
    except QianshuError as exc:
        if exc.status in (401, 403):
            raise
        return form_refused(request, db, exc, kept, _labels(MAX_ROWS),
                            lambda form: _page(read_models.resource_editor(db, actor, editing_id), form),
                            name="resource")
    return see_other(f"/sharing/resources/{resource.id}")
