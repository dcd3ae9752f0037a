"""The example's one route: what a caseworker may inspect is the policy's to say."""

from __future__ import annotations

from fastapi import APIRouter

from qianshu.accounts.deps import CurrentActor
from qianshu.core import policy

router = APIRouter(prefix="/api/v1/example", tags=["example"])


@router.get("/divisions/{code}")
def inspect(code: str, actor: CurrentActor) -> dict[str, str]:
    policy.require(actor, "example.inspect", policy.Resource(division=code))
    return {"division": code}
