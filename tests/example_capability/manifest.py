"""The example capability's manifest: an API and one permission action."""

from qianshu.core.capability import Manifest

MANIFEST = Manifest(
    name="example_capability",
    title="Example",
    package_name="tests.example_capability",  # a capability outside the qianshu package says where it lives
    api=True,
    actions="tests.example_capability.permissions:ACTIONS",
)
