"""What monitoring's feeds, rules and runs pages show, each read by one function: the data and
what the viewer may do with it (the permission policy, ``core.policy``, asked here so that the
portal, ``feeds_pages.py``, only renders; the case pages' read models are ``read_models.py``). A
flag says "offer the form"; the service still decides on what is posted (another division's
upload or rules are refused there)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from qianshu.core import i18n, policy
from qianshu.core.actor import Actor
from qianshu.core.i18n import N_
from qianshu.core.timeutil import utcnow
from qianshu.monitoring import feed_uploads, feeds, rulesets, runs, shared_feeds
from qianshu.monitoring.feeds_files import REASONS
from qianshu.monitoring.models import FeedUpload, FeedVersion, MonitoringRun, RuleParameters, SharedFeed
from qianshu.monitoring.population import FEEDS
from qianshu.monitoring.rules import PARAMETERS, RULES


def this_year() -> int:
    return utcnow().year


def home_division(actor: Actor) -> str:
    """The viewer's own division (its jurisdiction; the province for staff without one): the
    forms' default."""
    return actor.jurisdiction or feeds.PROVINCE


@dataclass(frozen=True)
class FeedsView:
    versions: list[FeedVersion]
    uploads: list[FeedUpload]
    may_upload: bool  # upload a feed for its own division
    year: int
    division: str
    shared: list[SharedFeed]  # the organisation's grants received as feeds
    grants: list[tuple[int, str]]  # its feed grants in force not yet received: (request, resource's name)
    feeds: tuple[str, ...] = FEEDS


def feeds_view(db: Session, actor: Actor) -> FeedsView:
    """The feeds' versions and recent uploads the viewer may see (each saying whether it was uploaded
    or came through a data-sharing grant), the grants received as feeds, and the forms' defaults: the
    upload, and receiving a feed grant (offered with the grants that may be received)."""
    home = home_division(actor)
    may_upload = policy.allows(actor, "monitoring.feeds.upload", feeds.upload_resource(home))
    shared = shared_feeds.shared_feeds(db, actor) if may_upload else []
    grants = shared_feeds.receivable_grants(db, actor) if may_upload else []
    return FeedsView(feeds.list_versions(db, actor)[:200], feed_uploads.recent_uploads(db, actor, 10), may_upload,
                     this_year(), home, shared, grants)


@dataclass(frozen=True)
class RulesView:
    year: int
    division: str
    values: dict[str, Any]
    sources: dict[str, str]
    history: list[RuleParameters]
    may_edit: bool  # set this region's parameters for the year
    own: dict[str, Any]  # what this region sets itself (the rest is inherited)
    rules: tuple[str, ...] = RULES
    names: tuple[str, ...] = tuple(n for n in PARAMETERS if n != "enabled")


def rules_view(db: Session, actor: Actor, year: int, division: str) -> RulesView:
    """The parameters in force for a year and a region, where each came from, and their history."""
    history = rulesets.history(db, actor, year, division)
    found = rulesets.effective(db, year, division)
    own = rulesets.newest(db, year, division)
    return RulesView(year, division, found.rules.parameters(), found.sources, history,
                     policy.allows(actor, "monitoring.rules.edit", policy.Resource(division=division)),
                     own.parameters if own else {})


@dataclass(frozen=True)
class RunsView:
    runs: list[MonitoringRun]
    year: int
    division: str
    may_start: bool  # start a run for its own county (or the province)


def runs_view(db: Session, actor: Actor) -> RunsView:
    division = home_division(actor)[:6]
    return RunsView(runs.list_runs(db, actor), this_year(), division,
                    policy.allows(actor, "monitoring.runs.start", policy.Resource(division=division)))


# A version's findings across departments (feeds.cross_check, feeds.missing_months), as sentences.
_FINDINGS = {
    "no_registration": N_("No household registration of the year is stored for this division: "
                          "its residents and households were not checked."),
    "unknown": N_("{count} records whose {column} the household registration of the year does not know, "
                  "e.g. {examples}"),
    "registered_elsewhere": N_("Residents registered in another county as well, e.g. {examples}"),
    "conflicts": N_("{count} heads of household whom the household registration places in another "
                    "household, e.g. {examples}"),
    "missing_months": N_("{division}: no row for the months {months}"),
    "rejected": N_("{count} rows rejected: {reason}"),
}


def findings_lines(findings: dict[str, Any], lang: str) -> list[str]:
    """What the cross-check and the months check found, one sentence each in ``lang`` (the page
    showed them as JSON, keys and all)."""
    sep = "、" if lang == "zh" else ", "

    def say(key: str, **params: Any) -> str:
        return i18n.translate(_FINDINGS[key], lang, **params)

    def some(values: list[Any]) -> str:
        return sep.join(dict.fromkeys(str(v) for v in values))

    lines = [say("no_registration")] if findings.get("no_registration") else []
    for column, found in findings.get("unknown_to_registration", {}).items():
        lines.append(say("unknown", count=found["count"], column=column, examples=some(found["examples"])))
    if elsewhere := findings.get("registered_elsewhere"):
        lines.append(say("registered_elsewhere", examples=some(elsewhere["examples"])))
    if conflicts := findings.get("conflicts"):
        lines.append(say("conflicts", count=conflicts["count"],
                         examples=some([e["resident_id"] for e in conflicts["examples"]])))
    for division, months in findings.get("missing_months", {}).items():
        lines.append(say("missing_months", division=division, months=some(months)))
    for reason, count in findings.get("rejected_by_reason", {}).items():
        text = i18n.translate(REASONS[reason], lang, column="") if reason in REASONS else reason
        lines.append(say("rejected", count=count, reason=text.lstrip(":： ")))
    return lines
