"""REST routes of delivery: the data API and sandbox under /api/v1/delivery, and the Delta Sharing
protocol at /delta-sharing (delivery/channels/api.py). Handlers only translate HTTP.

Data API and sandbox (issue 13): the row and sandbox routes read the database through the
service's own short transactions (a request-wide one would be held while DuckDB reads), so they
take the ``Database``, not a session."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from qianshu.accounts.deps import SignedInActor
from qianshu.core.body_rules import BodyRule
from qianshu.core.http import AppSettings, DbSession, get_database
from qianshu.core.openapi import problems
from qianshu.delivery import data_api, limits, sandbox_service, service
from qianshu.delivery.channels.api import router as delta_sharing_router
from qianshu.delivery.settings import DeliverySettings

rest = APIRouter(prefix="/api/v1/delivery", tags=["delivery"])


class ApiKeyOut(BaseModel):
    key: str = Field(description="The API key, shown this once; send it as the X-API-Key header.")
    prefix: str
    contract_id: int
    created_at: datetime


class RowsOut(BaseModel):
    contract: str = Field(description="The contract number the rows are delivered under.")
    columns: list[str]
    rows: list[list[Any]]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last one.")
    watermarked: bool = Field(description="Whether the rows carry the contract's watermark.")


class SandboxQueryIn(BaseModel):
    sql: str = Field(max_length=10_000, description="One SELECT of aggregates over the table `data`.")


class BudgetOut(BaseModel):
    total: float
    spent: float
    remaining: float


class SandboxAnswerOut(BaseModel):
    query_id: int
    columns: list[str]
    rows: list[list[Any]]
    suppressed_groups: int = Field(description="Groups not shown: too small, or to protect a total.")
    epsilon: float = Field(description="Privacy budget this answer spent (0 without differential privacy).")
    budget: BudgetOut | None
    seconds: float


class SandboxQueryOut(BaseModel):
    id: int
    sql: str
    outcome: str = Field(description="answered | suppressed | refused | failed | timed_out")
    code: str
    groups_shown: int
    groups_suppressed: int
    epsilon: float
    created_at: datetime


class SandboxPolicyIn(BaseModel):
    k: int = Field(default=10, ge=2, le=1000, description="Smallest group shown.")
    epsilon: float | None = Field(default=None, gt=0, le=10,
                                  description="Epsilon per query; differential privacy is off when null.")
    budget: float = Field(default=1.0, gt=0, le=100, description="Each contract's total epsilon.")
    bounds: dict[str, tuple[float, float]] = Field(default_factory=dict,
                                                   description="Column → [low, high] clamp for noisy sums.")
    identifying: list[str] = Field(default_factory=list, description="Columns that may only be counted.")


@rest.post("/contracts/{contract_id}/api-key", response_model=ApiKeyOut, status_code=201,
             responses=problems(404, 409), summary="Issue (or rotate) the data API key of one's contract")
def issue_key(contract_id: int, db: DbSession, actor: SignedInActor) -> object:
    key, raw = data_api.issue_key(db, actor, contract_id)
    return ApiKeyOut(key=raw, prefix=key.prefix, contract_id=key.contract_id, created_at=key.created_at)


@rest.delete("/contracts/{contract_id}/api-key", status_code=204, responses=problems(404, 409),
               summary="Revoke the data API key of one's contract")
def revoke_key(contract_id: int, db: DbSession, actor: SignedInActor) -> Response:
    data_api.revoke_key(db, actor, contract_id)
    return Response(status_code=204)


@rest.get("/data/rows", response_model=RowsOut, responses=problems(401, 403, 404, 409, 429),
            summary="Rows of the product of the API key's contract: columns, filters, a page after the cursor")
def rows(request: Request, settings: AppSettings,
         x_api_key: Annotated[str, Header(description="The contract's data API key.")] = "",
         columns: Annotated[str | None, Query(description="Comma-separated column names (default all).")] = None,
         filter: Annotated[list[str] | None, Query(
             description="column:op:value, repeatable; op one of eq, ne, lt, le, gt, ge, in (values a|b), prefix, "
                         "null, notnull. Values are typed against the column.")] = None,
         limit: Annotated[int | None, Query(ge=1, le=10_000, description="Rows per page.")] = None,
         cursor: Annotated[str | None, Query(max_length=500, description="next_cursor of the previous page.")] = None,
         ) -> object:
    page = data_api.fetch_rows(get_database(request), settings, x_api_key, columns=columns, filters=filter or [],
                               limit=limit, cursor=cursor)
    return RowsOut(contract=page.contract_number, columns=page.columns, rows=page.rows, next_cursor=page.next_cursor,
                   watermarked=page.watermarked)


def _budget(result_budget: Any) -> BudgetOut | None:
    if result_budget is None:
        return None
    return BudgetOut(total=result_budget.total, spent=result_budget.spent, remaining=result_budget.remaining)


@rest.post("/contracts/{contract_id}/sandbox/queries", response_model=SandboxAnswerOut,
             responses=problems(403, 404, 409), summary="Ask an aggregate question in the sandbox of one's contract")
def sandbox_query(contract_id: int, data: SandboxQueryIn, request: Request, settings: AppSettings,
                  actor: SignedInActor) -> object:
    result = sandbox_service.run_contract_query(get_database(request), actor, settings, contract_id, data.sql)
    return SandboxAnswerOut(query_id=result.query_id, columns=list(result.columns), rows=[list(r) for r in result.rows],
                            suppressed_groups=result.suppressed_groups, epsilon=result.epsilon,
                            budget=_budget(result.budget), seconds=result.seconds)


@rest.get("/contracts/{contract_id}/sandbox/queries", response_model=list[SandboxQueryOut],
            responses=problems(404), summary="The sandbox queries of a contract and their outcomes (both parties)")
def sandbox_history(contract_id: int, db: DbSession, actor: SignedInActor) -> object:
    return sandbox_service.contract_summary(db, actor, contract_id)["queries"]


@rest.put("/products/{listing_id}/sandbox", status_code=204, responses=problems(404),
            summary="Set the sandbox of one's product: k, differential privacy, each contract's budget")
def set_sandbox(listing_id: int, data: SandboxPolicyIn, db: DbSession, actor: SignedInActor) -> Response:
    sandbox_service.set_product_sandbox(db, actor, listing_id, k=data.k, epsilon=data.epsilon, budget=data.budget,
                                        bounds=data.bounds, identifying=data.identifying)
    return Response(status_code=204)


class LimitsIn(BaseModel):
    rate_per_minute: int = Field(description="Calls the contract's key may make in any 60 seconds.")
    quota_period: str = Field(description="day | month (UTC)")
    calls_per_period: int
    rows_per_period: int


class LimitsOut(LimitsIn):
    set_by_seller: bool = Field(description="False: the installation's defaults apply.")


@rest.get("/contracts/{contract_id}/limits", response_model=LimitsOut, responses=problems(404),
            summary="The data API limits of a contract (both parties)")
def get_limits(contract_id: int, db: DbSession, actor: SignedInActor, settings: AppSettings) -> object:
    return limits.contract_limits(db, actor, settings.section(DeliverySettings), contract_id).__dict__


@rest.put("/contracts/{contract_id}/limits", response_model=LimitsOut, responses=problems(404, 409, 422),
            summary="Set the rate limit and quota of a data API contract (its seller, within the operator's maxima)")
def set_limits(contract_id: int, data: LimitsIn, db: DbSession, actor: SignedInActor, settings: AppSettings) -> object:
    return limits.set_limits(db, actor, settings.section(DeliverySettings), contract_id,
                             **data.model_dump()).__dict__


class FoundDecoyOut(BaseModel):
    contract: str
    decoy: int
    row: int = Field(description="The row of the file (0-based, after the header).")
    bits: float = Field(description="Bits of the keyed decoy found in the row.")
    cells: int


class TraceOut(BaseModel):
    named: list[str] = Field(description="Contracts whose decoy rows are in the file (empty: none).")
    found: list[FoundDecoyOut]
    decoys_tested: int
    rows_in_file: int
    threshold_bits: float
    false_positive_bound: float


def _trace(request: Request, actor: Any, settings: Any, listing_id: int, suspect: Path) -> TraceOut:
    trace = service.trace_leak(get_database(request), actor, settings, listing_id, suspect, file_name="api upload")
    return TraceOut(named=list(trace.named), decoys_tested=trace.decoys_tested, rows_in_file=trace.rows_in_file,
                    threshold_bits=trace.threshold_bits, false_positive_bound=trace.false_positive_bound,
                    found=[FoundDecoyOut(contract=f.key_id, decoy=f.index, row=f.row, bits=f.bits, cells=f.cells)
                           for f in trace.found])


@rest.post("/products/{listing_id}/trace", response_model=TraceOut, responses=problems(404, 409, 422),
             summary="Name the contracts whose keyed decoy rows are in a leaked file (the body: the file)")
async def trace_decoys(listing_id: int, request: Request, actor: SignedInActor, settings: AppSettings) -> object:
    """The body is the suspect file (CSV, XLSX or Parquet), streamed to a temporary file; the trace
    and its two short transactions run on a worker thread."""
    with tempfile.TemporaryDirectory(prefix="qianshu-trace-") as folder:
        suspect = Path(folder) / "suspect"
        with suspect.open("wb") as out:
            async for chunk in request.stream():
                out.write(chunk)
        return await run_in_threadpool(_trace, request, actor, settings, listing_id, suspect)


BODY_RULES = [BodyRule("POST", r"/api/v1/delivery/products/\d+/trace",
                       lambda settings: settings.section(DeliverySettings).suspect_max_bytes)]


# The capability's router: the routes above, and the Delta Sharing protocol's, which sit outside the
# /api/v1 prefix because a sharing client is given one endpoint URL and appends the protocol's paths.
router = APIRouter()
router.include_router(rest)
router.include_router(delta_sharing_router)
