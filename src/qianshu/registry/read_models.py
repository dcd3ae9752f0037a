"""What the registry's main pages show, each read by one function: the data and what the viewer
may do with it (from the permission policy, ``core.policy.allows``), so that a page shows a
button only when pressing it would not be refused. The portal (``pages.py``) renders these; the
rules stay here, beside the services that enforce them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.core import policy
from qianshu.core.actor import Actor
from qianshu.core.settings import Settings
from qianshu.core.vocabulary import industry_name, region_name
from qianshu.registry import documents, permissions, review, service
from qianshu.registry.models import EDITABLE_STATUSES, Certificate, Registration

if TYPE_CHECKING:
    from qianshu.accounts.models import Organisation

SAMPLE_ROWS = 10
REVIEWABLE = ("submitted", "under_review")
REPORTABLE = ("submitted", "under_review", "public_notice", "issued")


@dataclass(frozen=True)
class MyRegistrations:
    registrations: list[Registration]
    can_register: bool  # the "start a registration" form


def my_registrations(db: Session, actor: Actor) -> MyRegistrations:
    return MyRegistrations(service.list_registrations(db, actor), policy.allows(actor, "registration.create"))


@dataclass(frozen=True)
class Sample:
    columns: list[str]
    rows: list[list[Any]]
    masked_columns: list[str]


NO_SAMPLE = Sample([], [], [])


@dataclass(frozen=True)
class RegistrationActions:
    """What the viewer may do on the registration page, each true only if the service would let
    them (the policy for who, the registration's status for when)."""

    edit: bool = False  # upload files, declare, submit (the holder, while the registration is editable)
    submit: bool = False
    review: bool = False  # take, approve, return, reject
    take: bool = False
    issue: bool = False
    certify: bool = False  # an operator: issue (later), revoke, decide objections
    revoke: bool = False
    object: bool = False  # file an objection (a registration in public notice)
    attach_report: bool = False
    follow_up: bool = False  # change, transfer, renew or cancel an issued registration
    confirm_transfer: bool = False
    see_contract: bool = False
    see_pii: bool = False


@dataclass(frozen=True)
class RegistrationDetail:
    reg: Registration
    may: RegistrationActions
    holder: Organisation | None
    is_holder: bool
    columns: list[Any]
    pii: list[Any]
    quality: list[Any]
    history: list[Any]
    objections: list[Any]
    reports: list[Any]
    cert: Certificate | None
    pipeline_error: str
    industry: str
    region: str
    sample: Sample = NO_SAMPLE
    evidence_for: frozenset[int] = field(default_factory=frozenset)  # objections whose evidence the viewer may download


def _sample(db: Session, settings: Settings, reg: Registration) -> Sample:
    """The first rows of the registered data, each personal-information column masked."""
    try:
        columns, rows = service.sample_rows(db, settings, reg.id, SAMPLE_ROWS)
    except (OSError, ValueError, pa.ArrowException):  # the Parquet is gone or unreadable: show no sample
        return NO_SAMPLE
    names = [str(c) for c in columns]
    pii = service.pii_columns(db, reg.data_from_id or reg.id, sensitive_first=True)
    return Sample(names, service.mask_rows(names, [list(r) for r in rows], pii), sorted(c for c in pii if c in names))


def actions(db: Session, actor: Actor, reg: Registration) -> RegistrationActions:
    resource = permissions.registration(reg)
    edit = policy.allows(actor, "registration.edit", resource) and reg.status in EDITABLE_STATUSES
    review_it = policy.allows(actor, "registration.review") and reg.status in REVIEWABLE
    certify = policy.allows(actor, "registration.certify")
    holder = service.is_holder(actor, reg)
    return RegistrationActions(
        edit=edit, submit=edit and reg.status in ("ready", "returned"),
        review=review_it, take=review_it and reg.status == "submitted",
        issue=review.issue_refusal(db, actor, reg) is None, certify=certify,
        revoke=certify and reg.status == "issued",
        object=reg.status == "public_notice" and policy.allows(actor, "objection.file"),
        attach_report=reg.status in REPORTABLE and policy.allows(actor, "report.attach"),
        follow_up=reg.status == "issued" and holder and policy.allows(actor, "registration.edit", resource),
        confirm_transfer=reg.reg_type == "transfer" and reg.transferee_confirmed_at is None
        and policy.allows(actor, "transfer.confirm", resource),
        see_contract=documents.may_download_contract(actor, reg),
        see_pii=policy.allows(actor, "registration.pii.read", resource),
    )


def registration_detail(db: Session, actor: Actor, settings: Settings, registration_id: int,
                        lang: str) -> RegistrationDetail:
    """The registration page: the registration, what the review sees, and what the viewer may do."""
    reg = service.get_registration(db, actor, registration_id)
    may = actions(db, actor, reg)
    objections = review.objections(db, reg.id)
    return RegistrationDetail(
        reg=reg, may=may, holder=accounts.organisation_by_id(db, reg.holder_org_id),
        is_holder=service.is_holder(actor, reg),
        columns=service.column_profiles(db, reg.id),
        pii=service.pii_findings(db, actor, reg.id) if may.see_pii else [],
        quality=service.quality_report(db, reg.id), history=service.history(db, reg.id),
        objections=objections, reports=review.reports(db, reg.id), cert=review.certificate_of(db, reg.id),
        pipeline_error=service.pipeline_error(reg, lang),
        industry=industry_name(reg.industry_code, lang) if reg.industry_code else "",
        region=region_name(reg.division_code, lang) if reg.division_code else "",
        sample=_sample(db, settings, reg) if may.see_pii and reg.row_count is not None else NO_SAMPLE,
        evidence_for=frozenset(o.id for o in objections if o.evidence_sha256
                               and documents.may_download_evidence(actor, reg, o)),
    )
