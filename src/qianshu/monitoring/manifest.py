"""Return-to-poverty monitoring (防止返贫动态监测): the synthetic population its demo, tests and
benchmarks run on; the departments' feeds, the rules' parameters and the runs; the cases and
dashboards of caseworkers that a run's flags open (docs/monitoring.md)."""

from qianshu.core.capability import MENU_MINE, JobKind, Manifest, NavItem, Periodic, Subscription
from qianshu.core.policy import Resource, allows


def _department(actor: object) -> bool:
    division = getattr(actor, "jurisdiction", None) or "520000"
    return allows(actor, "monitoring.runs.read", Resource(division=division))  # type: ignore[arg-type]


MANIFEST = Manifest(
    name="monitoring",
    title="Return-to-poverty monitoring",
    # sharing: departments' feeds received through their grants (shared_feeds.py)
    uses=("sharing",),
    models=True,
    api=True,
    pages=True,
    templates=True,
    cli=True,
    translations=True,
    actions="qianshu.monitoring.permissions:ACTIONS",
    nav=(
        # feeds, rules and runs (monitoring/feeds*.py, rulesets.py, runs.py): in the bar
        NavItem("/monitoring/runs", "Monitoring", _department, order=70),
        # a caseworker's cases and dashboard (monitoring/cases*.py, dashboards.py): their workspace
        NavItem("/monitoring/cases", "Monitoring cases", lambda a: allows(a, "monitoring.case.list"), order=71,
                menu=MENU_MINE),
        NavItem("/monitoring/dashboard", "Monitoring dashboard", lambda a: allows(a, "monitoring.dashboard"),
                order=72, menu=MENU_MINE),
    ),
    settings="qianshu.monitoring.settings:MonitoringSettings",
    jobs={"monitoring.run": JobKind("qianshu.monitoring.runs:run_monitoring_job", concurrency=1),
          # a received feed file checked and recorded as a version (feed_uploads.py)
          "monitoring.feed_upload": JobKind("qianshu.monitoring.feed_uploads:validate_upload_job", concurrency=1),
          # a version of a shared resource's feed taken through its grant (shared_feeds.py)
          "monitoring.shared_feed": JobKind("qianshu.monitoring.shared_feeds:deliver_job", concurrency=1)},
    # a department published a new version of a resource granted to us as a feed: queue its delivery
    subscriptions={"sharing.file_published": Subscription("qianshu.monitoring.shared_feeds:on_file_published",
                                                          in_transaction=True)},
    periodic={"monitoring.cases_overdue": Periodic(3600.0, "qianshu.monitoring.cases_jobs:tell_overdue_steps")},
    demo="qianshu.demo.monitoring_seed:seed",
    # visit files, feed versions' files and uploads waiting for their check
    blob_references="qianshu.monitoring.feed_uploads:blob_in_use",
)
