"""Who may do what with monitoring cases and dashboards (core/policy.py).

Caseworkers are users of an approved government organisation holding a jurisdiction; a case's
resource is its household's village, so every rule requires the case to lie within the
caseworker's jurisdiction. Each step of the national mechanism is done by its level: the village
visits, cross-checks and posts the public notice, the township reviews, the county approves (and
records the measures its departments take); a province or prefecture user sees and counts but
does not decide.
"""

from __future__ import annotations

from qianshu.core.i18n import N_
from qianshu.core.policy import ANYONE, Action, Resource, Rule

GOV = ("government",)
CASEWORKER = Rule(org_types=GOV, active=True, jurisdiction="required")
FRONT_LINE = ("county", "township", "village")


def caseworker(*levels: str) -> Rule:
    return Rule(org_types=GOV, active=True, jurisdiction="required", levels=levels)


ACTIONS = (
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
