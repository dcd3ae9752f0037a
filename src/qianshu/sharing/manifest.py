"""Government data sharing: each department's data resource catalogue, requests between
departments decided within 10 working days, and grants used as feeds or sandbox queries."""

from qianshu.core.capability import Manifest, NavItem, Periodic
from qianshu.core.policy import allows

MANIFEST = Manifest(
    name="sharing",
    title="Government data sharing",
    # catalog: the DCAT-AP machinery of its export; delivery: the sandbox that answers queries.
    uses=("catalog", "delivery"),
    models=True,
    api=True,
    pages=True,
    templates=True,
    translations=True,
    actions="qianshu.sharing.permissions:ACTIONS",
    settings="qianshu.sharing.settings:SharingSettings",
    nav=(NavItem("/sharing", "Data sharing", lambda a: allows(a, "sharing.catalogue.read"), order=65),),
    # Pending requests past their 10th working day are flagged to both departments and the bureau.
    # Grants past their last day are closed and their requesters told (uses stop at once anyway).
    periodic={"sharing.flag_overdue": Periodic(3600.0, "qianshu.sharing.service:flag_overdue_task"),
              "sharing.expire_grants": Periodic(3600.0, "qianshu.sharing.grants:expire_grants_task")},
    # Feed files in the blob store are kept from the registry's sweep of orphan blobs.
    blob_references="qianshu.sharing.service:blob_in_use",
    # a new version of a resource's feed, for the grantees that receive it (monitoring)
    events=("qianshu.sharing.events:FeedFilePublished",),
    demo="qianshu.demo.sharing_seed:seed",
)
