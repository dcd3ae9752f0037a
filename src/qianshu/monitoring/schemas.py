"""Pydantic shapes of monitoring's API (feeds, rule parameters, runs)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ParametersIn(BaseModel):
    """Only the parameters a region sets (``rules.PARAMETERS``); the others are inherited."""

    parameters: dict[str, Any]
    note: str = Field(default="", max_length=2000)


class RunIn(BaseModel):
    year: int = Field(ge=2000, le=2100)
    division: str = Field(min_length=6, max_length=6)
    force: bool = False


class SharedFeedIn(BaseModel):
    """A feed grant of one's organisation received as a monitoring feed of a division."""

    request_id: int = Field(ge=1)
    feed: str = Field(min_length=1, max_length=40)
    division: str = Field(min_length=6, max_length=6)


class SharedFeedWithdrawIn(BaseModel):
    """Why a feed received through data sharing is withdrawn (the answer to "are you sure")."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=4000)
