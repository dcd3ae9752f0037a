"""The parts of a decision that an appeal asks back, and the parts the big-data bureau grants.

A narrowing leaves out some of the fields asked for, or part of the period; a rejection leaves out
everything. The requesting department appeals all of it or only some parts: the **fields** it asks
back (of those asked for and not granted) and the **period** it asks for (within the one asked
for, and — after a narrowing — holding the period granted, so that the access stays one period).
The bureau upholds, grants what was appealed, or grants part of it: some of the appealed fields
and/or a period within the appealed one (again holding what the owner granted). The resulting
access is exactly what the owner granted plus what the bureau granted, never more than was asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from qianshu.core.errors import InvalidInput
from qianshu.sharing.models import SharingAppeal, SharingRequest
from qianshu.sharing.service import check_period


@dataclass(frozen=True)
class Parts:
    fields: list[str]  # fields beyond those the owner granted
    start: date
    end: date


def _owner_fields(row: SharingRequest) -> list[str]:
    return list(row.granted_fields or []) if row.status == "narrowed" else []


def _owner_period(row: SharingRequest) -> tuple[date, date] | None:
    if row.status == "narrowed" and row.granted_start and row.granted_end:
        return row.granted_start, row.granted_end
    return None


def appealed(appeal: SharingAppeal, row: SharingRequest) -> Parts:
    """What an appeal asks back (an appeal from before parts existed: everything left out)."""
    if appeal.fields is None or appeal.period_start is None or appeal.period_end is None:
        granted = set(_owner_fields(row)) if appeal.appealed_status == "narrowed" else set()
        return Parts([f for f in row.fields if f not in granted], row.period_start, row.period_end)
    return Parts(list(appeal.fields), appeal.period_start, appeal.period_end)


def _choose(row: SharingRequest, among: list[str], fields: list[str] | None, start: date | None,
            end: date | None, within: tuple[date, date], outside_message: str, code: str) -> Parts:
    """Fields of ``among`` (all by default) and a period within ``within`` (all of it by default),
    holding the owner's granted period; something beyond what the owner granted."""
    chosen = list(among) if fields is None else [f for f in dict.fromkeys(fields) if f not in _owner_fields(row)]
    beyond = [f for f in chosen if f not in among]
    if beyond:
        raise InvalidInput(outside_message, field="fields", code=code, names=", ".join(beyond))
    start, end = start or within[0], end or within[1]
    check_period(start, end)
    if start < within[0] or end > within[1]:
        raise InvalidInput("The period must lie within {start} to {end}.", field="period_start", code=code,
                           start=within[0].isoformat(), end=within[1].isoformat())
    owner = _owner_period(row)
    if owner is not None and (start > owner[0] or end < owner[1]):
        raise InvalidInput("The period must hold the one the owner granted ({start} to {end}).",
                           field="period_start", code="period_not_held", start=owner[0].isoformat(),
                           end=owner[1].isoformat())
    if not chosen and (owner is None or (start, end) == owner):
        raise InvalidInput("Name at least one field or a longer period than the owner granted.", field="fields",
                           code="nothing_chosen")
    return Parts([f for f in row.fields if f in chosen], start, end)


def appeal_parts(row: SharingRequest, fields: list[str] | None, start: date | None, end: date | None) -> Parts:
    """The parts a new appeal asks back: of the fields asked for and not granted, in the period asked for."""
    left_out = [f for f in row.fields if f not in _owner_fields(row)]
    return _choose(row, left_out, fields, start, end, (row.period_start, row.period_end),
                   "Only fields that were asked for and not granted can be appealed; {names} cannot.", "not_appealed")


def granted_parts(row: SharingRequest, asked: Parts, fields: list[str] | None, start: date | None,
                  end: date | None) -> Parts:
    """The parts the bureau grants of an appeal: of the appealed fields, in the appealed period."""
    return _choose(row, asked.fields, fields, start, end, (asked.start, asked.end),
                   "Only appealed fields can be granted; {names} was not appealed.", "not_appealed")


def resulting_access(row: SharingRequest, granted: Parts) -> tuple[str, list[str], date, date]:
    """The request's status, fields and period once the bureau granted ``granted``: ``approved``
    when that is all that was asked, else ``narrowed``."""
    keep = set(_owner_fields(row)) | set(granted.fields)
    fields = [f for f in row.fields if f in keep]
    whole = fields == list(row.fields) and (granted.start, granted.end) == (row.period_start, row.period_end)
    return ("approved" if whole else "narrowed"), fields, granted.start, granted.end
