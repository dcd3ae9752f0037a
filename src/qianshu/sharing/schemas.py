"""Request bodies of sharing (the API's JSON and the portal's forms)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SharingClass = Literal["unconditional", "conditional", "not_shared"]
FieldType = Literal["string", "integer", "decimal", "date", "boolean", "code"]
Frequency = Literal["once", "realtime", "daily", "weekly", "monthly", "quarterly", "yearly"]
AccessType = Literal["feed", "sandbox"]
NAME = r"^[a-z][a-z0-9_]{0,62}$"


class FieldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME)
    type: FieldType
    meaning_zh: str = Field(min_length=1, max_length=200)
    meaning_en: str = Field(default="", max_length=200)


class ResourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=NAME)
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(default="", max_length=200)
    description_zh: str = Field(default="", max_length=4000)
    description_en: str = Field(default="", max_length=4000)
    fields: list[FieldIn] = Field(min_length=1, max_length=200)
    update_frequency: Frequency
    legal_basis: str = Field(min_length=1, max_length=2000)
    sharing_class: SharingClass
    conditions: str = Field(default="", max_length=4000)


class RequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resource_id: int = Field(gt=0)
    purpose: str = Field(min_length=1, max_length=4000)
    fields: list[str] = Field(min_length=1, max_length=200)
    period_start: date
    period_end: date
    access_type: AccessType = "feed"


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "narrow", "reject"]
    # narrow: the subset of the asked fields and/or the shorter period granted
    fields: list[str] | None = None
    period_start: date | None = None
    period_end: date | None = None
    reason: str = Field(default="", max_length=4000)
    # approve / narrow: the grant's last day of use (default: the end of the granted period)
    expires_on: date | None = None


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=4000)


class AppealIn(BaseModel):
    """An appeal of the whole decision (no parts named) or of parts of it: the ``fields`` asked back
    (of those asked for and not granted) and the period asked for (within the one asked for; by
    default all of it)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=4000)
    fields: list[str] | None = None
    period_start: date | None = None
    period_end: date | None = None


class AppealDecisionIn(BaseModel):
    """The bureau upholds the owner's decision (the reason required), grants what was appealed, or
    grants part of it (``fields`` of the appealed ones and/or a period within the appealed one; the
    reason required)."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["uphold", "grant", "grant_part"]
    reason: str = Field(default="", max_length=4000)
    # grant_part: what is granted of the appeal
    fields: list[str] | None = None
    period_start: date | None = None
    period_end: date | None = None
    # grant / grant_part: the grant's last day of use (default: the end of the period granted)
    expires_on: date | None = None


class ExtensionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    until: date  # the end date asked for
    reason: str = Field(min_length=1, max_length=4000)


class ExtensionDecisionIn(BaseModel):
    """The owner approves (the new end date: by default the one asked) or refuses (the reason required)."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "refuse"]
    expires_on: date | None = None
    reason: str = Field(default="", max_length=4000)


Aggregate = Literal["count", "sum", "avg", "min", "max", "median", "stddev"]


class SandboxPolicyIn(BaseModel):
    """The owner's policy for sandbox grants of one resource."""

    model_config = ConfigDict(extra="forbid")

    k: int = Field(default=10, ge=2, le=10_000)  # smallest group shown
    aggregates: list[Aggregate] = Field(default=["count", "sum", "avg", "min", "max", "median", "stddev"],
                                        min_length=1)
    epsilon: float | None = Field(default=None, gt=0, le=10)  # per query: differential privacy on
    budget: float = Field(default=10.0, gt=0, le=1000)  # per grant
    bounds: dict[str, tuple[float, float]] = Field(default_factory=dict, max_length=200)


class QueryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sql: str = Field(min_length=1, max_length=10_000)
