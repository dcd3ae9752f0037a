"""The harness itself: each test starts from an empty, migrated database."""

import pytest
from sqlalchemy import func, select, update

from qianshu.accounts.models import Organisation
from tests.factories import Factories, OrganisationFactory


def test_rows_made_in_a_test_are_visible_in_it(make: Factories, db) -> None:
    make.org()
    assert db.scalar(select(func.count()).select_from(Organisation)) == 1


def test_and_gone_in_the_next(db) -> None:
    assert db.scalar(select(func.count()).select_from(Organisation)) == 0


def test_epochs_count_committed_writes_per_table(database) -> None:  # type: ignore[no-untyped-def]
    assert database.epoch("organisations") == 0
    with database.unit_of_work() as db:
        OrganisationFactory._meta.sqlalchemy_session = db
        org = OrganisationFactory()
        db.flush()
        org_id = org.id
    assert database.epoch("organisations") == 1
    with database.unit_of_work() as db:
        db.execute(update(Organisation).where(Organisation.id == org_id).values(name_en="Moved"))
    assert database.epoch("organisations") == 2
    with database.unit_of_work() as db:  # marked as moving counters only: caches need not care
        db.execute(update(Organisation).where(Organisation.id == org_id).values(name_en="Again")
                   .execution_options(counters_only=True))

    def fails_midway() -> None:
        with database.unit_of_work() as db:
            db.execute(update(Organisation).where(Organisation.id == org_id).values(name_en="Never"))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        fails_midway()
    with database.unit_of_work(write=False) as db:
        db.get(Organisation, org_id)
    assert database.epoch("organisations") == 2
