"""What monitoring's feeds, rules and runs pages show, each read by one function: the data and
what the viewer may do with it (the permission policy, ``core.policy``, asked here so that the
portal, ``feeds_pages.py``, only renders; the case pages' read models are ``read_models.py``). A
flag says "offer the form"; the service still decides on what is posted (another division's
upload or rules are refused there)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from qianshu.core import policy
from qianshu.core.actor import Actor
from qianshu.core.timeutil import utcnow
from qianshu.monitoring import feed_uploads, feeds, rulesets, runs, shared_feeds
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
