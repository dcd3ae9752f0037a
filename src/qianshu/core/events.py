"""Typed domain events, declared in the manifests, delivered after commit.

A lower capability announces what happened without importing the higher ones that care: it
publishes an instance of a frozen dataclass derived from :class:`Event`, whose ``name`` is stable
(``publish(db, RegistrationRevoked(registration_id=7, reason="..."))``; the registry declares
the class in its manifest's ``events``). Subscriptions are declared in the manifests too
(``subscriptions={"registration.revoked": Subscription("module:handler", in_transaction=True)}``),
so nothing depends on import order, and publishing an undeclared event fails.

Delivery:

- **after commit** (the default): the subscriber runs once the publishing transaction has
  committed, as ``handler(database, event)``, and opens its own unit of work; it sees the
  committed data. An event published in a transaction (or savepoint) that rolls back is never
  delivered. A subscriber that raises cannot undo the commit: the error is logged and the
  delivery is queued as a ``core.deliver_event`` job, which the worker runs again (and which an
  operator sees and can retry in the job list when it keeps failing).
- **in the transaction** (``in_transaction=True``), only for a subscriber that must write in it
  (the change and its consequences stand or fall together: a revoked registration's products are
  delisted in the revocation's transaction): ``handler(db, event)`` runs at ``publish``, and
  an exception aborts the whole transaction.

Events wait in ``session.info`` until SQLAlchemy's ``after_commit`` session event, so every
way a session commits (a request's unit of work, a CLI command, a job) delivers them.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, SessionTransaction

if TYPE_CHECKING:
    from qianshu.core.db import Database
    from qianshu.core.jobs import JobContext, Progress

log = logging.getLogger(__name__)

DELIVERY_JOB = "core.deliver_event"
_PENDING = "pending_events"


@dataclass(frozen=True)
class Event:
    """A domain event: subclasses are frozen dataclasses of JSON values with a stable ``name``."""

    name: ClassVar[str] = ""

    def data(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Subscriber:
    """One subscription, resolved: who subscribes, the handler and when it runs."""

    capability: str
    ref: str
    handler: Callable[..., None]
    in_transaction: bool


@dataclass
class _Pending:
    transaction: SessionTransaction | None
    event: Event
    subscribers: list[Subscriber]


@lru_cache(maxsize=1)
def _table() -> tuple[dict[str, type[Event]], dict[str, list[Subscriber]]]:
    # The capability list sits above core: imported by name, at first use, so that core depends
    # on no capability (the one place core looks up; see docs/architecture.md).
    capabilities = importlib.import_module("qianshu.capabilities")
    return capabilities.event_types(), capabilities.subscribers()


def event_type(name: str) -> type[Event]:
    types, _subscribers = _table()
    found = types.get(name)
    if found is None:
        raise LookupError(f"event {name!r} is declared by no capability manifest")
    return found


def publish(db: Session, event: Event | str, **data: Any) -> None:
    """Announce ``event`` (or build the declared event called ``event`` from ``data``).

    In-transaction subscribers run now; the others once ``db``'s transaction commits.
    """
    if isinstance(event, str):
        event = event_type(event)(**data)
    elif event_type(event.name) is not type(event):
        raise LookupError(f"event {event.name!r} is declared by its manifest as another class")
    subscribers = _table()[1].get(event.name, [])
    for subscriber in subscribers:
        if subscriber.in_transaction:
            subscriber.handler(db, event)
    later = [s for s in subscribers if not s.in_transaction]
    if later:
        transaction = db.get_nested_transaction() or db.get_transaction()
        db.info.setdefault(_PENDING, []).append(_Pending(transaction, event, later))


def _within(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


@sa_event.listens_for(Session, "after_soft_rollback")
def _discard_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    pending: list[_Pending] | None = session.info.get(_PENDING)
    if pending:
        session.info[_PENDING] = [p for p in pending if not _within(p.transaction, previous_transaction)]


@sa_event.listens_for(Session, "after_transaction_end")
def _forget_at_the_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction: committed (delivered) or gone
        session.info.pop(_PENDING, None)


@sa_event.listens_for(Session, "after_commit")
def _deliver_committed(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        # SQLAlchemy calls after_commit when a SAVEPOINT is released too (the idempotent routes run
        # in one): nothing is committed yet, and the events wait for the outermost transaction.
        return
    pending: list[_Pending] = session.info.pop(_PENDING, [])
    if not pending:
        return
    database = session.info.get("database")
    for item in pending:
        for subscriber in item.subscribers:
            if database is None:
                log.error("event %s committed on a session without its Database: %s not told",
                          item.event.name, subscriber.ref)
                continue
            deliver(database, subscriber, item.event)


def deliver(database: Database, subscriber: Subscriber, event: Event) -> None:
    """Run one after-commit subscriber; on failure log it and queue the delivery as a job."""
    try:
        subscriber.handler(database, event)
    except Exception:
        log.exception("subscriber %s of event %s failed after commit; its delivery is queued as a job",
                      subscriber.ref, event.name)
        try:
            _queue_delivery(database, subscriber, event)
        except Exception:
            log.exception("could not queue the delivery of event %s to %s", event.name, subscriber.ref)


def _queue_delivery(database: Database, subscriber: Subscriber, event: Event) -> None:
    from qianshu.core import jobs  # jobs publishes events itself: imported when needed

    with database.unit_of_work() as db:
        jobs.enqueue(db, DELIVERY_JOB, {"event": event.name, "data": event.data(), "subscriber": subscriber.ref})


def _subscriber(name: str, ref: str) -> Subscriber:
    for subscriber in _table()[1].get(name, []):
        if subscriber.ref == ref and not subscriber.in_transaction:
            return subscriber
    raise LookupError(f"{ref!r} no longer subscribes to {name!r} after commit")


def deliver_event_job(context: JobContext, job_id: int, progress: Progress) -> None:
    """The ``core.deliver_event`` job: deliver a queued event to one subscriber again (an error
    fails the job, which operators see and can retry)."""
    from qianshu.core.jobs import Job

    with context.database.unit_of_work(write=False) as db:
        payload = dict(db.get_one(Job, job_id).payload)
    name, ref = str(payload["event"]), str(payload["subscriber"])
    _subscriber(name, ref).handler(context.database, event_type(name)(**payload["data"]))
    progress(1.0, "delivered")


def pending(db: Session) -> Iterator[Event]:
    """The events ``db`` will deliver when it commits (for tests and diagnostics)."""
    for item in db.info.get(_PENDING, []):
        yield item.event
