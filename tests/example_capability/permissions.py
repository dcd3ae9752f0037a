"""The example's one action: a government caseworker inspects the records of their jurisdiction."""

from qianshu.core.policy import Action, Rule

ACTIONS = (
    Action("example.inspect", (Rule(org_types=("government",), active=True, jurisdiction="required"),),
           "Inspect a division's records (a government caseworker, within their jurisdiction)"),
)
