"""Delivery: signed downloads and watermarks, Delta Sharing, the data API, sandbox queries."""

from qianshu.core.capability import Manifest

MANIFEST = Manifest(
    name="delivery",
    title="Delivery",
    uses=("catalog",),
    translations=True,
)
