"""The next version of a versioned row (a feed's upload, a region's rule parameters).

Two writers at once both read the same latest number; the unique key lets one insert, and the other
retries with the number after it (PostgreSQL makes it wait for the first's commit on the key).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qianshu.core.errors import Conflict

T = TypeVar("T")


def insert_next_version(db: Session, latest: Select[Any], make_row: Callable[[int], T], *, attempts: int,
                        conflict: Conflict) -> T:
    """Insert ``make_row(n)`` where ``n`` is one more than ``latest`` (a ``max(version)`` query);
    after ``attempts`` collisions, raise ``conflict``."""
    for attempt in range(attempts):
        row = make_row((db.scalar(latest) or 0) + 1)
        try:
            with db.begin_nested():
                db.add(row)
                db.flush()
            return row
        except IntegrityError as exc:
            if attempt == attempts - 1:
                raise conflict from exc
    raise conflict
