"""Who may do what in monitoring (core/policy.py).

Feeds, rules and runs (this block): departments (government organisations) send feeds for the
divisions they hold; the monitoring administrators of the big-data bureau (the ``monitoring_admin``
role of a government organisation) set the rules of their jurisdiction, a province's for the
province and a county's for the county (its override), and start runs. Cases and dashboards add
their actions below.
"""

from __future__ import annotations

from qianshu.core.i18n import N_
from qianshu.core.policy import Action, Rule

DEPARTMENT = Rule(org_types=("government",), active=True, jurisdiction="limits")
MONITORING_ADMIN = Rule(org_types=("government",), org_roles=("monitoring_admin",), active=True,
                        jurisdiction="required")

ACTIONS = (
    Action("monitoring.feeds.upload", (DEPARTMENT,),
           "Send a department's feed for a year and a division (a new version of the feed)",
           N_("Only a government department sends monitoring feeds, for the divisions it holds.")),
    Action("monitoring.feeds.read", (DEPARTMENT,), "See the feeds' versions, their rejected rows and findings",
           N_("Only government departments see the monitoring feeds of their divisions.")),
    Action("monitoring.rules.read", (DEPARTMENT,), "See the monitoring rules' parameters and their history",
           N_("Only government departments see the monitoring rules.")),
    Action("monitoring.rules.edit", (MONITORING_ADMIN,),
           "Set the monitoring rules' parameters of a year for one's jurisdiction (a county overrides the province)",
           N_("Only a monitoring administrator of the big-data bureau sets the rules, within their jurisdiction.")),
    Action("monitoring.runs.start", (MONITORING_ADMIN,), "Start a run of the monitoring rules for a region",
           N_("Only a monitoring administrator starts a run, within their jurisdiction.")),
    Action("monitoring.runs.read", (DEPARTMENT,), "See the runs of the monitoring rules and the households flagged",
           N_("Only government departments see the monitoring runs of their divisions.")),
)
