"""In-process domain events, delivered synchronously inside the caller's transaction.

A lower capability announces what happened (``publish(db, "registration.revoked", ...)``)
without importing the higher ones that care (the catalogue delists the products). Handlers
are declared in each capability's manifest (``events`` it publishes, ``subscriptions`` it
handles), so nothing depends on import order, and publishing an undeclared event fails. A handler
that raises aborts the whole transaction: the change and its consequences stand or fall
together.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

Handler = Callable[..., None]


@lru_cache(maxsize=1)
def _table() -> tuple[frozenset[str], dict[str, list[Handler]]]:
    # The capability list sits above core: imported by name, at first use, so that core depends
    # on no capability (the one place core looks up; see docs/architecture.md).
    capabilities = importlib.import_module("qianshu.capabilities")
    return frozenset(capabilities.declared_events()), capabilities.subscriptions()


def publish(db: Session, event: str, **data: Any) -> None:
    declared, handlers = _table()
    if event not in declared:
        raise LookupError(f"event {event!r} is declared by no capability manifest")
    for handler in handlers.get(event, []):
        handler(db, **data)
