"""Who may do what in monitoring (core/policy.py).

Feeds, rules and runs: departments (government organisations) send feeds for the divisions they
hold; the monitoring administrators of the big-data bureau (the ``monitoring_admin`` role of a
government organisation) set the rules of their jurisdiction, a province's for the province and a
county's for the county (its override), and start runs.

Cases and dashboards: caseworkers are users of an approved government organisation holding a
jurisdiction; a case's resource is its household's village, so every rule requires the case to lie
within the caseworker's jurisdiction. Each step of the national mechanism is done by its level: the
village visits, cross-checks and posts the public notice, the township reviews, the county approves
(and records the measures its departments take); a province or prefecture user sees and counts but
does not decide.
"""

from __future__ import annotations

from qianshu.core.i18n import N_
from qianshu.core.policy import ANYONE, Action, Resource, Rule

GOV = ("government",)

# --- feeds, rules, runs ---------------------------------------------------------------------------
DEPARTMENT = Rule(org_types=GOV, active=True, jurisdiction="limits")
MONITORING_ADMIN = Rule(org_types=GOV, org_roles=("monitoring_admin",), active=True,
                        jurisdiction="required")

# --- cases and dashboards -------------------------------------------------------------------------
CASEWORKER = Rule(org_types=GOV, active=True, jurisdiction="required")
FRONT_LINE = ("county", "township", "village")


def caseworker(*levels: str) -> Rule:
    return Rule(org_types=GOV, active=True, jurisdiction="required", levels=levels)


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
    Action("monitoring.case.list", (Rule(org_types=GOV, active=True, levels=(
        "province", "prefecture", "county", "township", "village")),),
           "List and export the monitoring cases within one's jurisdiction",
           N_("Only a caseworker with a jurisdiction sees monitoring cases.")),
    Action("monitoring.case.read", (CASEWORKER,), "See a monitoring case within one's jurisdiction",
           N_("This case lies outside your jurisdiction.")),
    Action("monitoring.case.identify", (caseworker(*FRONT_LINE),),
           "See the household's names and resident IDs unmasked (county, township and village caseworkers)",
           N_("Only the caseworkers of the county, township or village see names and resident IDs.")),
    Action("monitoring.case.open", (caseworker(*FRONT_LINE),),
           "Open a case from a cadre's visit or linked monitoring, record a visit, a cross-check or a revisit",
           N_("Only the caseworkers of the county, township or village open and visit cases.")),
    Action("monitoring.case.self_report", (ANYONE,),
           "Apply for monitoring (a household's self-report through the portal)"),
    Action("monitoring.case.village_review", (caseworker("village"),),
           "Village review and public notice: of a household's entry, or of its risk elimination",
           N_("Only the village's caseworker does the village review.")),
    Action("monitoring.case.township_review", (caseworker("township"),),
           "Township review of a household's entry or risk elimination",
           N_("Only the township's caseworker does the township review.")),
    Action("monitoring.case.county_approve", (caseworker("county"),),
           "County approval of a monitored household or of its risk elimination; assistance measures",
           N_("Only the county's caseworker approves.")),
    Action("monitoring.dashboard", (Rule(org_types=GOV, active=True, levels=(
        "province", "prefecture", "county", "township", "village")),),
           "See and export the monitoring dashboard of one's jurisdiction",
           N_("Only a caseworker with a jurisdiction sees the monitoring dashboard.")),
)


def case_resource(division_code: str) -> Resource:
    return Resource(division=division_code)
