"""REST routes of delivery under /api/v1/delivery: each part of delivery adds its own router here."""

from __future__ import annotations

from fastapi import APIRouter

from qianshu.delivery import data_api_routes

router = APIRouter()
# --- data API and sandbox (issue 13) ---
router.include_router(data_api_routes.router)
