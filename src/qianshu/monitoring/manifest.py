"""Return-to-poverty monitoring (防止返贫动态监测): the synthetic population its demo, tests and
benchmarks run on; the departments' feeds, the rules' parameters and the runs (docs/monitoring.md)."""

from qianshu.core.capability import JobKind, Manifest, NavItem
from qianshu.core.policy import Resource, allows


def _department(actor: object) -> bool:
    division = getattr(actor, "jurisdiction", None) or "520000"
    return allows(actor, "monitoring.runs.read", Resource(division=division))  # type: ignore[arg-type]


MANIFEST = Manifest(
    name="monitoring",
    title="Return-to-poverty monitoring",
    models=True,
    api=True,
    pages=True,
    templates=True,
    cli=True,
    translations=True,
    nav=(NavItem("/monitoring/runs", "Monitoring", _department, order=70),),
    actions="qianshu.monitoring.permissions:ACTIONS",
    settings="qianshu.monitoring.settings:MonitoringSettings",
    jobs={"monitoring.run": JobKind("qianshu.monitoring.runs:run_monitoring_job", concurrency=1)},
)
