"""Working days in mainland China: weekends, the official holidays and the make-up working days
(调休) the State Council announces each year.

The calendar comes from the ``chinese-calendar`` package (PyPI ``chinese-calendar``, module
``chinese_calendar``), which ships each year's announcement (1.11.0 knows 2004–2026). For a
year it does not know, days are Monday to Friday, corrected by the ``[sharing] extra_holidays``
and ``extra_workdays`` settings, where an operator enters the year's announcement until the
package is upgraded (docs/sharing.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import chinese_calendar


def is_working_day(day: date, extra_holidays: Iterable[date] = (), extra_workdays: Iterable[date] = ()) -> bool:
    if day in set(extra_workdays):
        return True
    if day in set(extra_holidays):
        return False
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # a year the package has no announcement for
        return day.weekday() < 5


def add_working_days(start: date, days: int, extra_holidays: Iterable[date] = (),
                     extra_workdays: Iterable[date] = ()) -> date:
    """The ``days``-th working day after ``start`` (``start`` itself does not count)."""
    holidays, workdays = set(extra_holidays), set(extra_workdays)
    day, left = start, days
    while left > 0:
        day += timedelta(days=1)
        if is_working_day(day, holidays, workdays):
            left -= 1
    return day


def knows_year(year: int) -> bool:
    """Whether the package has the State Council's announcement for ``year``."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def unknown_years(start: date, end: date) -> list[int]:
    """The years from ``start`` to ``end`` whose announcement the package does not have: a deadline
    reaching into them counts Monday to Friday, less the days the operator entered in the settings."""
    return [year for year in range(start.year, end.year + 1) if not knows_year(year)]
