"""The vouchers' read models say what the viewer may do — the policy's who and the service's
when — so that a page offers only forms that would not be refused."""

from __future__ import annotations

import pytest

from qianshu.core.blobs import open_blob_store
from qianshu.core.errors import PermissionDenied
from qianshu.vouchers import read_models, redemption, schemas
from tests.vouchers.conftest import EVIDENCE, World, issue
from tests.vouchers.test_vouchers import LIMIT, order_in


def test_who_may_do_what_on_the_directory_and_a_programme(db, world: World, make) -> None:
    assert read_models.directory(db, world.actor(world.provider)).may.publish
    assert read_models.directory(db, world.actor(world.admin)).may.publish
    assert not read_models.directory(db, world.actor(world.company)).may.publish
    issue(db, world, world.company)
    company = read_models.programme_view(db, world.actor(world.company), world.programme_id)
    assert (company.may.apply, company.may.manage) == (True, False)
    assert company.my_vouchers
    assert company.applications == []  # the administrator's only
    admin = read_models.programme_view(db, world.actor(world.admin), world.programme_id)
    assert (admin.may.apply, admin.may.manage) == (False, True)
    assert [a.org_id for a in admin.applications] == [world.company.org_id]
    assert world.company.org_id in admin.names
    other = make.user(organisation=make.org(org_type="voucher_administrator"))
    assert not read_models.programme_view(db, make.actor(other), world.programme_id).may.manage
    assert read_models.publish_view(db, world.actor(world.admin)).may == read_models.PublishActions(False, True)
    with pytest.raises(PermissionDenied):
        read_models.publish_view(db, world.actor(world.company))


def test_an_orders_forms_follow_its_state(db, world: World, settings) -> None:
    vouchers = issue(db, world, world.company)
    order = redemption.place_order(db, world.actor(world.company), world.programme_id, order_in(world, vouchers))
    provider = world.actor(world.provider)
    assert read_models.order_view(db, provider, order.id).may == read_models.OrderActions(report_usage=True)
    assert read_models.order_view(db, world.actor(world.company), order.id).may == read_models.OrderActions()
    blobs = open_blob_store(settings)
    redemption.report_usage(db, provider, blobs, order.id, schemas.UsageIn(
        used_card_hours=800, evidence_name="metering.csv", evidence_base64=EVIDENCE), LIMIT)
    assert read_models.order_view(db, provider, order.id).may == read_models.OrderActions(claim=True)
    redemption.claim_reimbursement(db, provider, blobs, order.id, schemas.ClaimIn(
        invoice_number="52001234", delivery_proof_base64=EVIDENCE), LIMIT)
    view = read_models.order_view(db, provider, order.id)
    assert view.may == read_models.OrderActions()  # claimed: nothing left to do
    assert view.claim is not None
