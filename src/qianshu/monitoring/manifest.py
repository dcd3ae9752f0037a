"""Return-to-poverty monitoring (防止返贫动态监测): the synthetic population its demo, tests and
benchmarks run on, the rules, and the cases and dashboards of caseworkers (docs/monitoring.md)."""

from qianshu.core.capability import Manifest, NavItem, Periodic
from qianshu.core.policy import allows

MANIFEST = Manifest(
    name="monitoring",
    title="Return-to-poverty monitoring",
    cli=True,
    translations=True,
    # --- cases and dashboards (monitoring/cases*.py, dashboards*.py) ---
    models=True,
    api=True,
    pages=True,
    templates=True,
    actions="qianshu.monitoring.permissions:ACTIONS",
    nav=(NavItem("/monitoring/cases", "Monitoring cases", lambda a: allows(a, "monitoring.case.list"), order=70),
         NavItem("/monitoring/dashboard", "Monitoring dashboard", lambda a: allows(a, "monitoring.dashboard"),
                 order=71)),
    periodic={"monitoring.cases_overdue": Periodic(3600.0, "qianshu.monitoring.cases_jobs:tell_overdue_steps")},
    demo="qianshu.demo.monitoring_seed:seed",
    blob_references="qianshu.monitoring.cases:blob_in_use",
)
