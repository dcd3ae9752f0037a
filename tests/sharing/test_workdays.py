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


def test_a_deadline_reaching_a_year_the_calendar_lacks_says_so_on_the_request(  # type: ignore[no-untyped-def]
        client, db, make, settings) -> None:
    """Asked on 24 December 2026, the 10th working day is in January 2027: the request page and the
    API say the deadline counts Monday to Friday there (no holiday of 2027 is made up)."""
    import datetime as dt

    from sqlalchemy import update

    from qianshu.core.i18n import LANG_COOKIE
    from qianshu.sharing.models import SharingRequest
    from tests.registry.helpers import sign_in
    from tests.sharing.conftest import ask, build_world

    assert workdays.unknown_years(date(2026, 1, 5), date(2026, 12, 31)) == []
    if workdays.knows_year(2027):
        return  # a newer package knows 2027: nothing to say
    assert workdays.unknown_years(date(2026, 12, 24), date(2027, 1, 8)) == [2027]
    world = build_world(db, make)
    row = ask(db, make, world.other, settings, world.conditional)
    asked = dt.datetime(2026, 12, 24, 2, tzinfo=dt.UTC)
    due = workdays.add_working_days(asked.date(), 10)
    assert due == date(2027, 1, 7)  # 25, 28–31 December, 1 (a Friday, counted), 4–7 January
    db.execute(update(SharingRequest).where(SharingRequest.id == row.id).values(created_at=asked, due_on=due))
    db.flush()
    db.refresh(row)
    sign_in(client, world.owner)
    page = client.get(f"/sharing/requests/{row.id}")
    assert page.status_code == 200
    assert "尚未收录 2027 年的法定节假日" in page.text
    client.cookies.set(LANG_COOKIE, "en")
    assert "The official holidays of 2027 are not in the platform" in client.get(f"/sharing/requests/{row.id}").text
    from qianshu.sharing import service

    assert service.request_json(row)["due_on_unknown_calendar_years"] == [2027]
