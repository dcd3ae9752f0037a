"""REST routes of delivery: the Delta Sharing protocol (delivery/channels/api.py)."""

from __future__ import annotations

from fastapi import APIRouter

from qianshu.delivery.channels.api import router as delta_sharing_router

router = APIRouter()
router.include_router(delta_sharing_router)
