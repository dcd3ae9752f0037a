"""Data registration: ingest, profile, scan for personal data, grade, review, certify."""

from qianshu.core.capability import (
    MENU_MINE,
    MENU_OPERATIONS,
    MENU_PUBLIC,
    JobKind,
    Manifest,
    NavItem,
    Periodic,
    Subscription,
)
from qianshu.core.policy import allows

MANIFEST = Manifest(
    name="registry",
    title="Data registration",
    uses=("translog",),
    models=True,
    api=True,
    pages=True,
    home=True,
    cli=True,
    templates=True,
    static=True,
    translations=True,
    actions="qianshu.registry.permissions:ACTIONS",
    settings="qianshu.registry.settings:RegistrySettings",
    nav=(
        NavItem("/registry", "My registrations", lambda a: a is not None and a.user_id is not None, order=30,
                menu=MENU_MINE),
        NavItem("/registry/review", "Registration review", lambda a: allows(a, "registration.read_all"), order=31,
                menu=MENU_OPERATIONS),
        NavItem("/registry/notices", "Public notices", order=32, menu=MENU_PUBLIC),
        NavItem("/registry/verify", "Verify a certificate", order=33, menu=MENU_PUBLIC),
    ),
    # A pipeline holds a DuckDB database and a file's worth of memory: two at a time per worker.
    jobs={"registry.pipeline": JobKind("qianshu.registry.jobs:run_registration_pipeline", concurrency=2)},
    periodic={
        "registry.issue_due": Periodic(300.0, "qianshu.registry.jobs:issue_due_certificates"),
        "registry.sweep_blobs": Periodic(3600.0, "qianshu.registry.jobs:sweep_orphan_blobs"),
    },
    events=("qianshu.registry.events:RegistrationRevoked", "qianshu.registry.events:RegistrationSuperseded",
            "qianshu.registry.events:RegistrationChallenged"),
    # Both settle the registration in the transaction that fails or retries the job.
    subscriptions={"job.crashed": Subscription("qianshu.registry.hooks:on_job_crashed", in_transaction=True),
                   "job.retried": Subscription("qianshu.registry.hooks:on_job_retried", in_transaction=True)},
    demo="qianshu.demo.registry_seed:seed",
)
