"""Working days count China's official holidays and make-up working days (chinese-calendar)."""

from __future__ import annotations

from datetime import date

from qianshu.sharing import workdays


def test_national_day_week_is_skipped_and_the_make_up_saturday_counts() -> None:
    # 2026: 1–7 October off, Saturday 10 October a make-up working day (State Council announcement).
    assert not workdays.is_working_day(date(2026, 10, 1))
    assert not workdays.is_working_day(date(2026, 10, 5))  # a Monday
    assert workdays.is_working_day(date(2026, 10, 10))  # a Saturday
    # Asked on Wednesday 30 September: the 10 working days are 8, 9, 10 (Sat), 12–16, 19, 20 October.
    assert workdays.add_working_days(date(2026, 9, 30), 10) == date(2026, 10, 20)


def test_an_ordinary_fortnight_is_ten_working_days() -> None:
    assert workdays.add_working_days(date(2026, 11, 30), 10) == date(2026, 12, 14)


def test_a_year_the_package_does_not_know_falls_back_to_weekdays_and_the_settings() -> None:
    assert workdays.knows_year(2026)
    if workdays.knows_year(2027):
        return  # a newer package knows 2027: the fallback is not used
    # Friday 1 January 2027 is a weekday: without the announcement it counts, unless configured.
    assert workdays.is_working_day(date(2027, 1, 1))
    assert not workdays.is_working_day(date(2027, 1, 1), extra_holidays=[date(2027, 1, 1)])
    assert workdays.is_working_day(date(2027, 1, 2), extra_workdays=[date(2027, 1, 2)])
    assert workdays.add_working_days(date(2026, 12, 31), 1, extra_holidays=[date(2027, 1, 1)]) == date(2027, 1, 4)
