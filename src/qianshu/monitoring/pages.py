"""Portal pages of monitoring: the feeds, rules and runs (feeds_pages.py) and the cases, the
self-report form and the dashboards (cases_pages.py), one router."""

from __future__ import annotations

from fastapi import APIRouter

from qianshu.monitoring import cases_pages, feeds_pages

BODY_RULES = [*cases_pages.BODY_RULES, *feeds_pages.BODY_RULES]

router = APIRouter(include_in_schema=False)
router.include_router(feeds_pages.router)
router.include_router(cases_pages.router)
