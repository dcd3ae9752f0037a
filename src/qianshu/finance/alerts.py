"""Alerts to pledgee banks about the asset they lend against, beyond the pledge's own steps.

A **challenge**: someone objects to a registration in public notice that would replace a pledged
certificate (a change, renewal or transfer of the asset), or to a pledged registration itself;
the registry publishes ``registration.challenged`` when the objection is filed and when the
exchange decides it, and every bank holding an open pledge over the registration (or the issued
one it would replace) is told in its inbox. Delivered after the objection's transaction commits.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from qianshu.core import inbox
from qianshu.core.i18n import N_, label
from qianshu.finance.service import CAPABILITY, open_pledges_of
from qianshu.registry import service as registry

CHALLENGE = {
    "filed": N_("An objection was filed against the {kind} of {number}, which you hold a pledge on: "
                "the holder's rights are challenged ({grounds})."),
    "upheld": N_("The objection against the {kind} of {number}, which you hold a pledge on, was "
                 "upheld: the holder's rights are in dispute."),
    "dismissed": N_("The objection against the {kind} of {number}, which you hold a pledge on, was "
                    "dismissed."),
}


def tell_pledgees_of_challenge(db: Session, registration_id: int, previous_id: int | None, outcome: str,
                               grounds: str = "") -> int:
    """Each bank with an open pledge over the challenged registration or the one it would replace
    is told once per objection step; returns how many notices were written."""
    challenged = registry.find_registration(db, registration_id)
    if challenged is None or outcome not in CHALLENGE:
        return 0
    # the challenged registration's pledges include those of the one it replaces (same asset): once each
    pledges = list({p.id: p for reg_id in (registration_id, previous_id) if reg_id is not None
                    for p in open_pledges_of(db, reg_id)}.values())
    for pledge in pledges:
        inbox.notify(db, CAPABILITY, CHALLENGE[outcome], org_id=pledge.pledgee_org_id, subject=("pledge", pledge.id),
                     link=f"/finance/lookup?number={pledge.certificate_number}", number=pledge.certificate_number,
                     kind_zh=label(challenged.reg_type, "registration type", "zh"),
                     kind_en=label(challenged.reg_type, "registration type", "en"), grounds=grounds[:200])
    return len(pledges)
