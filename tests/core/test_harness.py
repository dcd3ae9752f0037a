"""The harness itself: each test starts from an empty, migrated database."""

from sqlalchemy import func, select

from qianshu.accounts.models import Organisation
from tests.factories import Factories


def test_rows_made_in_a_test_are_visible_in_it(make: Factories, db) -> None:
    make.org()
    assert db.scalar(select(func.count()).select_from(Organisation)) == 1


def test_and_gone_in_the_next(db) -> None:
    assert db.scalar(select(func.count()).select_from(Organisation)) == 0
