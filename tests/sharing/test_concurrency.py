"""Two decisions on one request at once (the owner's two clerks): exactly one is applied, the
other gets a 409 in both languages. Real commits: a database of its own (SQLite, or PostgreSQL
with QIANSHU_TEST_DATABASE_URL)."""

from __future__ import annotations

import threading
from typing import Any

from qianshu.core.errors import Conflict
from qianshu.sharing import schemas, service
from qianshu.sharing.models import SharingRequest
from tests.factories import Factories
from tests.sharing.conftest import ask, build_world


def test_two_decisions_at_once_one_wins(isolated_database, settings) -> None:  # type: ignore[no-untyped-def]
    with isolated_database.unit_of_work() as db:
        make = Factories(db)
        world = build_world(db, make)
        request_id = ask(db, make, world.other, settings, world.conditional).id
        owner = make.actor(world.owner)
    decisions = [schemas.DecisionIn(decision="approve"),
                 schemas.DecisionIn(decision="reject", reason="不符合条件")]
    outcomes: list[Any] = [None, None]
    barrier = threading.Barrier(2)

    def decide(i: int) -> None:
        barrier.wait()
        try:
            with isolated_database.unit_of_work() as db:
                outcomes[i] = service.decide_request(db, owner, request_id, decisions[i]).status
        except Conflict as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=decide, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    won = [o for o in outcomes if isinstance(o, str)]
    lost = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(won) == 1, outcomes
    assert len(lost) == 1, outcomes
    assert lost[0].status == 409
    assert lost[0].code == "request_already_decided"
    assert "already" in lost[0].render("en")
    assert "已" in lost[0].render("zh")
    with isolated_database.unit_of_work(write=False) as db:
        assert db.get_one(SharingRequest, request_id).status == won[0]
