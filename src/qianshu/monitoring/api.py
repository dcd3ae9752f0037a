"""REST routes of monitoring, under /api/v1/monitoring: the feeds, rules and runs
(feeds_api.py) and the cases and dashboards (cases_api.py), one router."""

from __future__ import annotations

from fastapi import APIRouter

from qianshu.monitoring import cases_api, feeds_api

BODY_RULES = [*cases_api.BODY_RULES, *feeds_api.BODY_RULES]

router = APIRouter()
router.include_router(feeds_api.router)
router.include_router(cases_api.router)
