"""When API tokens were last used, kept in memory and written rarely, outside any request.

Writing ``last_used_at`` on the request that uses a token turned every token-authenticated read
into a writer: on SQLite it queued for the one write lock, and a download that then opened its
own write transaction deadlocked against its own request. So a request only notes the use here
(no database); ``flush`` writes the newest use of each token at most every ``FLUSH_SECONDS``, in a
short transaction of its own, on a worker thread. The column may lag by that much, and a process
killed before its flush loses at most that window of "last used" times, never a change of rights.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from sqlalchemy import or_, update
from sqlalchemy.exc import SQLAlchemyError

from qianshu.accounts.models import ApiToken
from qianshu.core.db import Database
from qianshu.core.timeutil import utcnow

log = logging.getLogger(__name__)
FLUSH_SECONDS = 60.0


class TokenUsage:
    """Per-process record of token uses since the last flush."""

    def __init__(self, flush_seconds: float = FLUSH_SECONDS) -> None:
        self.flush_seconds = flush_seconds
        self._lock = threading.Lock()
        self._pending: dict[int, datetime] = {}
        self._last_flush = time.monotonic()
        self._flushing = False

    def note(self, token_id: int, at: datetime | None = None) -> bool:
        """Remember a use; True when a flush is due (the caller schedules it off the event loop)."""
        with self._lock:
            self._pending[token_id] = at or utcnow()
            due = not self._flushing and time.monotonic() - self._last_flush >= self.flush_seconds
            if due:
                self._flushing = True
            return due

    def flush(self, database: Database) -> int:
        """Write the pending uses (newest wins, never moving a time backwards); returns how many."""
        with self._lock:
            pending, self._pending = self._pending, {}
            self._last_flush = time.monotonic()
        try:
            if pending:
                with database.unit_of_work() as db:
                    for token_id, at in pending.items():
                        db.execute(update(ApiToken).where(
                            ApiToken.id == token_id,
                            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < at),
                        ).values(last_used_at=at))
            return len(pending)
        except SQLAlchemyError:  # busy or unreachable: keep them for the next flush
            log.warning("could not record API token use; will retry", exc_info=True)
            with self._lock:
                for token_id, at in pending.items():
                    self._pending.setdefault(token_id, at)
            return 0
        finally:
            with self._lock:
                self._flushing = False
