"""Which controls each viewer finds on the sharing pages, read from the rendered pages: the owning
department (an admin, a member, one holding a jurisdiction), the requesting department, a third
department, the big-data bureau, a department not yet approved, a data merchant and the exchange's
operator; each request in each state a control depends on (pending, approved, ended, rejected,
appealed, a longer grant asked for, revoked). The sharing rules read no jurisdiction, so a user
holding one sees what the others of its department see."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import func, select

from qianshu.core.audit import AuditEvent
from qianshu.core.blobs import open_blob_store
from qianshu.sharing import appeals, grants, schemas, service
from qianshu.sharing.models import SharingAccess
from tests.sharing.conftest import World, ask, resource_in
from tests.sharing.test_pages import _browser

NOTHING: frozenset[str] = frozenset()


def _viewers(db: Any, make: Any, world: World) -> dict[str, Any]:
    owner_org, other_org = world.owner.organisation, world.other.organisation
    viewers = {
        "owner": world.owner,
        "owner member": make.user(organisation=owner_org, org_role="member"),
        "owner in a county": make.user(organisation=owner_org, org_role="member", jurisdiction="520102"),
        "requester": world.other,
        "requester in a county": make.user(organisation=other_org, org_role="member", jurisdiction="520103"),
        "third department": make.user(organisation=make.org(org_type="government", name="贵州省卫生健康委员会")),
        "bureau": world.bureau,
        "department not approved": make.user(organisation=make.org(org_type="government", status="pending")),
        "merchant": world.merchant,
        "operator": make.operator(),
    }
    db.flush()
    return viewers


def _request_controls(html: str, request_id: int) -> frozenset[str]:
    base = f'action="/sharing/requests/{request_id}'
    found = {name for name, marker in (
        ("decide", f'{base}/decision"'), ("revoke", f'{base}/revoke"'), ("appeal", f'{base}/appeal"'),
        ("decide appeal", f'{base}/appeal/decision"'), ("ask extension", f'{base}/extensions"'),
        ("query", f'{base}/query"'), ("use", ">Granted data</h2>")) if marker in html}
    if re.search(rf'{base}/extensions/\d+/decision"', html):
        found.add("decide extension")
    return frozenset(found)


def _states(db: Any, make: Any, world: World, settings: Any) -> dict[str, int]:
    owner, other, bureau = make.actor(world.owner), make.actor(world.other), make.actor(world.bureau)

    def decided(decision: str, **extra: Any) -> Any:
        row = ask(db, make, world.other, settings, world.conditional)
        service.decide_request(db, owner, row.id, schemas.DecisionIn(decision=decision, **extra))  # type: ignore[arg-type]
        return row

    pending = ask(db, make, world.other, settings, world.conditional)
    sandbox = decided("approve")
    sandbox.access_type = "sandbox"
    ended = decided("approve")
    ended.expires_on = service.today() - dt.timedelta(days=1)  # past its end, not yet closed by the task
    appealed = decided("reject", reason="不符合条件")
    appeals.file_appeal(db, other, appealed, schemas.AppealIn(reason="确有需要"))
    upheld = decided("reject", reason="不符合条件")
    appeals.file_appeal(db, other, upheld, schemas.AppealIn(reason="确有需要"))
    appeals.decide_appeal(db, bureau, upheld, schemas.AppealDecisionIn(decision="uphold", reason="维持"))
    extending = decided("approve")
    appeals.ask_extension(db, other, extending, schemas.ExtensionIn(
        until=(extending.expires_on or service.today()) + dt.timedelta(days=30), reason="继续监测"))
    revoked = decided("approve")
    grants.revoke(db, owner, revoked, "停止共享")
    db.flush()
    return {"pending": pending.id, "approved": decided("approve").id, "sandbox": sandbox.id, "ended": ended.id,
            "narrowed": decided("narrow", fields=["resident_id"]).id,
            "rejected": decided("reject", reason="不符合条件").id, "appealed": appealed.id, "upheld": upheld.id,
            "extension asked": extending.id, "revoked": revoked.id,
            "granted at once": ask(db, make, world.other, settings, world.unconditional).id}


OWNER_SIDE = ("owner", "owner member", "owner in a county")
REQUESTER_SIDE = ("requester", "requester in a county")
# state → side → the controls shown. The requesting department is shown its grant's section only
# while the grant is in force: the service refuses a use outside it, so the page does not offer one.
REQUEST_PAGE = {
    "pending": {"owner": {"decide"}, "requester": NOTHING, "bureau": NOTHING},
    "approved": {"owner": {"revoke"}, "requester": {"use", "ask extension"}, "bureau": NOTHING},
    "sandbox": {"owner": {"revoke"}, "requester": {"use", "ask extension", "query"}, "bureau": NOTHING},
    "ended": {"owner": {"revoke"}, "requester": NOTHING, "bureau": NOTHING},
    "narrowed": {"owner": {"revoke"}, "requester": {"use", "ask extension", "appeal"}, "bureau": NOTHING},
    "rejected": {"owner": NOTHING, "requester": {"appeal"}, "bureau": NOTHING},
    "appealed": {"owner": NOTHING, "requester": NOTHING, "bureau": {"decide appeal"}},
    "upheld": {"owner": NOTHING, "requester": NOTHING, "bureau": NOTHING},
    "extension asked": {"owner": {"revoke", "decide extension"}, "requester": {"use"}, "bureau": NOTHING},
    "revoked": {"owner": NOTHING, "requester": NOTHING, "bureau": NOTHING},
    "granted at once": {"owner": {"revoke"}, "requester": {"use", "ask extension"}, "bureau": NOTHING},
}
# Who does not see a request at all: it does not exist for them (404), or they may not use sharing (403).
REQUEST_HIDDEN = {"third department": 404, "department not approved": 403, "merchant": 403, "operator": 403}


def _side(viewer: str) -> str:
    return "owner" if viewer in OWNER_SIDE else "requester" if viewer in REQUESTER_SIDE else viewer


def test_each_viewer_sees_the_request_controls_its_side_and_the_state_allow(
        client, db, make, settings, world) -> None:  # type: ignore[no-untyped-def]
    states = _states(db, make, world, settings)
    viewers = _viewers(db, make, world)
    seen: dict[tuple[str, str], Any] = {}
    expected: dict[tuple[str, str], Any] = {}
    for viewer, user in viewers.items():
        _browser(client, db, settings, user, "en")
        for state, request_id in states.items():
            page = client.get(f"/sharing/requests/{request_id}")
            if viewer in REQUEST_HIDDEN:
                seen[viewer, state], expected[viewer, state] = page.status_code, REQUEST_HIDDEN[viewer]
                continue
            assert page.status_code == 200, (viewer, state)
            seen[viewer, state] = _request_controls(page.text, request_id)
            expected[viewer, state] = frozenset(REQUEST_PAGE[state][_side(viewer)])
    assert seen == expected


def test_the_catalogue_the_resource_and_the_boxes_offer_their_controls_to_whom_they_should(
        client, db, make, settings, world) -> None:  # type: ignore[no-untyped-def]
    elsewhere = service.publish_resource(db, make.actor(world.other),
                                         resource_in("farm_list", "conditional", "仅限监测")).id
    db.flush()
    resources = {"conditional": world.conditional, "unconditional": world.unconditional,
                 "not shared": world.not_shared, "another department's": elsewhere}
    markers = {"request": 'action="/sharing/requests"', "upload": 'id="upload"', "sandbox policy": '/sandbox-policy"',
               "change": '/edit"'}
    owning = {"request": False, "upload": True, "sandbox policy": True, "change": True}
    asking = {"request": True, "upload": False, "sandbox policy": False, "change": False}
    nothing = dict.fromkeys(markers, False)
    expected_resource = {
        "owner": {"conditional": owning, "unconditional": owning, "not shared": owning, "another department's": asking},
        "requester": {"conditional": asking, "unconditional": asking, "not shared": nothing,
                      "another department's": owning},
        "third department": {"conditional": asking, "unconditional": asking, "not shared": nothing,
                             "another department's": asking},
        "bureau": {"conditional": asking, "unconditional": asking, "not shared": nothing,
                   "another department's": asking},
    }
    shown: dict[str, Any] = {}
    wanted: dict[str, Any] = {}
    for viewer, user in _viewers(db, make, world).items():
        _browser(client, db, settings, user, "en")
        catalogue = client.get("/sharing")
        boxes = client.get("/sharing/requests")
        supervision = client.get("/sharing/requests?box=all")
        pages = {name: client.get(f"/sharing/resources/{rid}") for name, rid in resources.items()}
        if viewer in ("department not approved", "merchant", "operator"):
            shown[viewer] = (catalogue.status_code, boxes.status_code, supervision.status_code,
                             {n: p.status_code for n, p in pages.items()})
            wanted[viewer] = (403, 403, 403, dict.fromkeys(resources, 403))
            continue
        shown[viewer] = ('href="/sharing/resources/new"' in catalogue.text,
                         'href="/sharing/requests?box=all"' in boxes.text, supervision.status_code,
                         {n: {m: marker in p.text for m, marker in markers.items()} for n, p in pages.items()})
        bureau = viewer == "bureau"
        wanted[viewer] = (True, bureau, 200 if bureau else 403, expected_resource[_side(viewer)])
    assert shown == wanted


@pytest.mark.parametrize("box", ["incoming", "mine"])
def test_the_boxes_list_the_departments_own_requests(client, db, make, settings, world, box: str) -> None:  # type: ignore[no-untyped-def]
    row = ask(db, make, world.other, settings, world.conditional)
    db.flush()
    viewer = world.owner if box == "incoming" else world.other
    _browser(client, db, settings, viewer, "en")
    assert f'href="/sharing/requests/{row.id}"' in client.get(f"/sharing/requests?box={box}").text
    assert f'href="/sharing/requests/{row.id}"' not in client.get(
        f"/sharing/requests?box={'mine' if box == 'incoming' else 'incoming'}").text


def test_a_sandbox_query_on_the_request_page_shows_its_answer_or_its_refusal_and_is_audited(
        client, db, make, settings, world) -> None:  # type: ignore[no-untyped-def]
    owner = make.actor(world.owner)
    body = "resident_id,assistance\n" + "".join(f"5201021990{i:08d},{'dibao' if i % 2 else 'tekun'}\n"
                                                  for i in range(40))
    service.upload_file(db, owner, open_blob_store(settings), settings, world.conditional, "s.csv", [body.encode()],
                        dt.date(2026, 3, 1))
    row = ask(db, make, world.other, settings, world.conditional, access="sandbox")
    service.decide_request(db, owner, row.id, schemas.DecisionIn(decision="approve"))
    db.flush()
    token = _browser(client, db, settings, world.other, "en")
    seen = client.get(f"/sharing/requests/{row.id}")
    assert seen.status_code == 200
    assert db.scalar(select(func.count()).select_from(SharingAccess)) == 0  # showing the page reads no row
    sql = "SELECT assistance, COUNT(*) AS n FROM data GROUP BY assistance ORDER BY assistance"
    answered = client.post(f"/sharing/requests/{row.id}/query", data={"csrf_token": token, "sql": sql})
    assert answered.status_code == 200
    assert re.search(r'<table id="answer">.*<td>dibao</td><td>20</td>', answered.text, re.S)
    assert "GROUP BY assistance ORDER BY assistance</textarea>" in answered.text  # the query is kept
    refused = client.post(f"/sharing/requests/{row.id}/query", data={"csrf_token": token, "sql": "SELECT * FROM data"})
    assert refused.status_code >= 400
    assert 'class="error" role="alert"' in refused.text
    assert "SELECT * FROM data</textarea>" in refused.text
    assert 'id="answer"' not in refused.text
    assert [a.kind for a in db.scalars(select(SharingAccess))] == ["query"]  # the answered query only
    assert db.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "sharing.access.query", AuditEvent.target_id == str(row.id))) == 1


def test_a_request_form_naming_no_resource_comes_back_on_the_catalogue(client, db, settings, world) -> None:  # type: ignore[no-untyped-def]
    token = _browser(client, db, settings, world.other, "en")
    refused = client.post("/sharing/requests", data={"csrf_token": token, "resource_id": "", "purpose": "监测",
                                                     "period_start": "2026-01-01", "period_end": "2026-12-31"})
    assert refused.status_code == 422
    assert "Government data resource catalogue</h1>" in refused.text
    assert f'href="/sharing/resources/{world.conditional}"' in refused.text
