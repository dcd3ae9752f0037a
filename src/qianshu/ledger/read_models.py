"""What the ledger's operators' books page shows, read by one function: the books and what the
viewer may do with them, decided by the permission policy (``core.policy``), so that the page offers
the deposit and withdrawal forms only to whom recording them would not be refused. The portal
(``pages.py``) renders this."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from qianshu.accounts.service import list_organisations
from qianshu.core import policy
from qianshu.core.actor import Actor
from qianshu.ledger import books

if TYPE_CHECKING:
    from qianshu.accounts.models import Organisation


@dataclass(frozen=True)
class BooksView:
    as_of: date
    trial: books.TrialBalance
    fees: list[books.FeeMonth]
    organisations: list[Organisation]  # whose wallet a bank transfer may be recorded for (the approved ones)
    can_record: bool  # record deposits and withdrawals (an operator: ``ledger.deposit``)


def operators_books(db: Session, actor: Actor, as_of: date, lang: str) -> BooksView:
    """The trial balance at the end of ``as_of`` and the fees per month (operators and auditors:
    ``ledger.books.read``, checked by the services) and, for an operator, the organisations a
    deposit or withdrawal may be recorded for."""
    trial = books.trial_balance(db, actor, as_of, lang)
    can_record = policy.allows(actor, "ledger.deposit")
    organisations = list_organisations(db, actor, status="approved") if can_record else []
    return BooksView(as_of, trial, books.fees_per_month(db, actor), organisations, can_record)
