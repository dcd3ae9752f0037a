"""Return-to-poverty monitoring (防止返贫动态监测): the synthetic population its demo, tests and
benchmarks run on. Feeds, rules, runs, cases and dashboards come next (docs/monitoring.md)."""

from qianshu.core.capability import JobKind, Manifest

MANIFEST = Manifest(
    name="monitoring",
    title="Return-to-poverty monitoring",
    models=True,
    cli=True,
    translations=True,
    actions="qianshu.monitoring.permissions:ACTIONS",
    jobs={"monitoring.run": JobKind("qianshu.monitoring.runs:run_monitoring_job", concurrency=1)},
)
