"""The inbox as a signed-in user sees it: their notifications and their organisation's.

The inbox itself is core's (``core/inbox.py``, written by every capability); this is the reader's
view of it, kept in accounts because reading it needs a signed-in user and core may not decide who
may do what.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from qianshu.accounts import permissions
from qianshu.core import inbox
from qianshu.core.actor import Actor


@dataclass(frozen=True)
class InboxEntry:
    id: int
    text: str  # in the reader's language
    link: str
    capability: str
    subject_type: str
    subject_id: int | None
    for_organisation: bool
    created_at: datetime
    read: bool


def _entry(note: inbox.Notification, lang: str) -> InboxEntry:
    return InboxEntry(note.id, inbox.render(note, lang), note.link, note.capability, note.subject_type,
                      note.subject_id, note.for_organisation, note.created_at, note.read_at is not None)


def list_inbox(db: Session, actor: Actor, lang: str, *, unread_only: bool = False) -> list[InboxEntry]:
    """The actor's notifications and their organisation's, newest first, in ``lang``."""
    permissions.require_signed_in(actor)
    return [_entry(note, lang) for note in inbox.inbox(db, actor, unread_only=unread_only)]


def unread(db: Session, actor: Actor) -> inbox.Unread:
    permissions.require_signed_in(actor)
    return inbox.unread_for(db, actor)


def mark_read(db: Session, actor: Actor, ids: Sequence[int] | None = None) -> int:
    """Mark the actor's unread notifications (or only ``ids``) read; returns how many."""
    permissions.require_signed_in(actor)
    return inbox.mark_read(db, actor, ids)
