"""Input and output shapes of the accounts API and forms (Pydantic; separate from the tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from qianshu.core.identifiers import validate_division_code, validate_uscc
from qianshu.core.text import clean_text

OrgType = Literal["data_merchant", "buyer", "service_provider", "bank", "government", "exchange_operator",
                  "voucher_administrator", "compute_provider", "data_bureau"]  # core.policy.ORG_TYPES
Email = Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Password = Annotated[str, Field(min_length=10, max_length=256)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OrganisationApplication(Strict):
    name: Name
    name_en: Annotated[str, Field(max_length=200)] = ""
    org_type: OrgType
    uscc: Annotated[str, Field(max_length=64)]
    division_code: Annotated[str, Field(max_length=32)]
    contact_name: Annotated[str, Field(min_length=1, max_length=100)]
    contact_email: Email
    contact_phone: Annotated[str, Field(max_length=32, pattern=r"^[0-9+\-() ]*$")] = ""
    admin_name: Annotated[str, Field(min_length=1, max_length=100)]
    admin_email: Email
    password: Password

    @field_validator("uscc")
    @classmethod
    def _uscc(cls, v: str) -> str:
        return validate_uscc(v)

    @field_validator("division_code")
    @classmethod
    def _division(cls, v: str) -> str:
        return validate_division_code(v)

    @field_validator("name", "name_en", "contact_name", "admin_name")
    @classmethod
    def _text(cls, v: str, info: ValidationInfo) -> str:
        return clean_text(v, info.field_name or "text")

    @field_validator("contact_email", "admin_email")
    @classmethod
    def _email(cls, v: str) -> str:
        return v.lower()


class SignInForm(Strict):
    """The sign-in form: both fields there before the password is checked."""

    email: Email
    password: Annotated[str, Field(min_length=1, max_length=256)]


class ReviewDecision(Strict):
    reason: Annotated[str, Field(max_length=2000)] = ""


class InvitationIn(Strict):
    email: Email
    display_name: Annotated[str, Field(min_length=1, max_length=100)]
    org_role: Literal["admin", "member", "monitoring_admin"] = "member"

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        return v.lower()


class JurisdictionIn(Strict):
    """A GB/T 2260 code (6 digits) or a township (9) or village (12) code; null clears it."""

    jurisdiction: Annotated[str, Field(max_length=12)] | None = None


class AcceptInvitation(Strict):
    password: Password


class TokenIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    scopes: list[Literal["read", "write"]] = Field(default=["read"], min_length=1, max_length=2)
    days: Annotated[int, Field(ge=1, le=366)] = 90


class OrganisationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    name_en: str
    org_type: str
    uscc: str
    division_code: str
    status: str
    review_reason: str
    created_at: datetime


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    display_name: str
    org_role: str
    staff_role: str | None
    jurisdiction: str | None = None
    is_active: bool


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class NewToken(TokenOut):
    token: str  # shown once


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor_user_id: int | None
    actor_org_id: int | None
    actor_label: str
    via: str
    action: str
    target_type: str
    target_id: str
    target_org_id: int | None
    ip: str | None
    detail: dict[str, object]


class JobOut(BaseModel):
    """A background job as operators see it; ``error`` is in the client's language."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    status: str
    progress: float
    stage: str
    attempts: int
    error_code: str
    error: str
    org_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class InboxEntryOut(BaseModel):
    """A notification of the signed-in user's inbox; ``text`` is in the client's language."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    text: str
    link: str
    capability: str
    subject_type: str
    subject_id: int | None
    for_organisation: bool  # addressed to the user's organisation rather than to the user
    created_at: datetime
    read: bool


class UnreadOut(BaseModel):
    user: int
    organisation: int
    total: int


class MarkReadIn(BaseModel):
    ids: list[Annotated[int, Field(ge=1)]] | None = Field(default=None, max_length=1000)  # None: all unread
