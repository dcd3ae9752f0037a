"""Pydantic schemas of the registry API and forms (separate from the ORM models)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from qianshu.core.identifiers import validate_division_code
from qianshu.core.vocabulary import validate_industry_code

Right = Literal["holding", "processing_use", "operation"]
INDUSTRY_PATTERN = r"^[A-T]\d{2}$"


class RegistrationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title_zh: str = Field(default="", max_length=200)
    title_en: str = Field(default="", max_length=200)


class Declaration(BaseModel):
    """What the merchant declares; every field is checked again on submission."""

    model_config = ConfigDict(extra="forbid")
    title_zh: str = Field(min_length=1, max_length=200)
    title_en: str = Field(min_length=1, max_length=200)
    description_zh: str = Field(default="", max_length=5000)
    description_en: str = Field(default="", max_length=5000)
    industry_code: str = Field(pattern=INDUSTRY_PATTERN)
    division_code: str
    time_coverage_start: date | None = None
    time_coverage_end: date | None = None
    update_frequency: Literal["once", "realtime", "daily", "weekly", "monthly", "quarterly", "yearly"]
    source: Literal["own_collection", "authorised", "public_data", "purchased"]
    lawful_basis: str = Field(min_length=1, max_length=5000)
    rights: list[Right] = Field(min_length=1, max_length=3)

    @field_validator("division_code")
    @classmethod
    def _division(cls, value: str) -> str:
        return validate_division_code(value)

    @field_validator("industry_code")
    @classmethod
    def _industry(cls, value: str) -> str:
        return validate_industry_code(value)

    @field_validator("rights")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return sorted(set(value))


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


class QualityOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")
    score: int = Field(ge=0, le=100)
    reason: str = Field(min_length=1, max_length=500)


class Approval(BaseModel):
    model_config = ConfigDict(extra="forbid")
    classification: Literal["general", "important", "core"] | None = None
    personal_info: Literal["none", "personal", "sensitive"] | None = None
    reason: str = Field(default="", max_length=2000)
    quality: dict[Literal["normativity", "completeness", "accuracy", "consistency", "timeliness",
                          "accessibility"], QualityOverride] = Field(default_factory=dict)


class ObjectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grounds: str = Field(min_length=1, max_length=5000)


class ObjectionDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    uphold: bool
    reason: str = Field(min_length=1, max_length=2000)


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["compliance", "quality", "appraisal"]
    title: str = Field(min_length=1, max_length=200)
    conclusion: str = Field(min_length=1, max_length=5000)
    score: int | None = Field(default=None, ge=0, le=100)


class FollowUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reg_type: Literal["change", "transfer", "renewal", "cancellation"]
    transferee_uscc: str = Field(default="", max_length=18)
    reason: str = Field(default="", max_length=2000)


class IngestOptionsIn(BaseModel):
    """How to read a spreadsheet, when detection got it wrong (everything optional)."""

    model_config = ConfigDict(extra="forbid")
    header_row: int | None = Field(default=None, ge=1, le=1_048_576,
                                   description="Row number (as the spreadsheet numbers rows) of the header")
    header_rows: Literal[1, 2] | None = Field(default=None, description="1, or 2 for a two-level header")
    sheets: list[str] | None = Field(default=None, max_length=200, description="Sheets to read; several are stacked")
    all_sheets: bool = Field(default=False, description="Stack every sheet with the first sheet's header")
    keep_totals: bool = Field(default=False, description="Keep 合计/总计/小计/Total rows")


class FileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    sha256: str
    size: int
    file_format: str
    detected_encoding: str
    row_count: int | None
    ingest_options: dict[str, Any] = Field(default_factory=dict)
    ingest_layout: dict[str, Any] = Field(default_factory=dict)


class DocumentOut(BaseModel):
    """A supporting document just stored (contract, objection evidence)."""

    model_config = ConfigDict(from_attributes=True)
    name: str
    sha256: str
    size: int


class ReportDocumentOut(BaseModel):
    """A report with its document: the statement now carries the document's SHA-256 and is signed again."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    document_name: str
    document_sha256: str | None
    statement: dict[str, Any]
    signature: str
    key_id: str


class RegistrationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    number: str | None
    status: str
    reg_type: str
    previous_id: int | None
    holder_org_id: int
    transferee_org_id: int | None
    title_zh: str
    title_en: str
    description_zh: str
    description_en: str
    industry_code: str
    division_code: str
    time_coverage_start: date | None
    time_coverage_end: date | None
    update_frequency: str
    source: str
    lawful_basis: str
    rights: list[str]
    classification: str | None
    personal_info: str | None
    suggested_classification: str
    suggested_personal_info: str
    row_count: int | None
    column_count: int | None
    parquet_sha256: str | None
    job_id: int | None
    pipeline_error_code: str
    review_reason: str
    created_at: datetime
    submitted_at: datetime | None
    notice_ends_at: datetime | None
    issued_at: datetime | None
    valid_until: date | None
    files: list[FileOut]


class ColumnOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    position: int
    name: str
    source_name: str
    inferred_type: str
    null_count: int
    null_rate: float
    distinct_count: int
    distinct_is_estimate: bool
    min_value: str | None
    max_value: str | None
    mean: float | None
    top_values: list[Any]
    min_length: int | None
    max_length: int | None
    mean_length: float | None
    histogram: list[Any]
    type_conformance: float


class PiiOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    column_name: str
    kind: str
    sensitive: bool
    share: float
    scanned: int
    matched: int
    masked_example: str


class QualityOut(BaseModel):
    indicator: str
    score: int
    basis: str
    reason: str


class JobOut(BaseModel):
    id: int
    status: str
    progress: float
    stage: str
    error_code: str
    error: str
    registration_status: str
