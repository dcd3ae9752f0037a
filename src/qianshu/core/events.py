"""In-process domain events, delivered synchronously inside the caller's transaction.

A lower capability announces what happened (``publish(db, "registration.revoked", ...)``)
without importing the higher ones that care (the catalogue delists the products). Handlers
live in each capability's ``hooks.py`` as ``SUBSCRIPTIONS = {"event.name": handler}`` and
are found through ``qianshu.capabilities``, so nothing depends on import order. A handler
that raises aborts the whole transaction: the change and its consequences stand or fall
together.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

Handler = Callable[..., None]


@lru_cache(maxsize=1)
def _subscriptions() -> dict[str, list[Handler]]:
    from qianshu.capabilities import capability_modules  # the capability list sits above core

    table: dict[str, list[Handler]] = {}
    for module in capability_modules("hooks"):
        for event, handler in module.SUBSCRIPTIONS.items():
            table.setdefault(event, []).append(handler)
    return table


def publish(db: Session, event: str, **data: Any) -> None:
    for handler in _subscriptions().get(event, []):
        handler(db, **data)
