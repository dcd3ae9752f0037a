"""What the sharing pages show, each read by one function: the data and what the viewer may do with
it, decided by the permission policy (``core.policy``) together with the state the services check,
so that a page offers a control only when using it would not be refused. So far the form that
publishes or changes a resource (``resource_pages.py``); the catalogue, a resource's page and the
requests still ask the policy in ``pages.py`` (docs/architecture.md, "Not yet on read models").
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from qianshu.core import policy
from qianshu.core.actor import Actor
from qianshu.sharing import service
from qianshu.sharing.models import SharingResource
from qianshu.sharing.permissions import resource_of


@dataclass(frozen=True)
class ResourceEditor:
    """The form a department publishes a data resource with, or changes one of its own with."""

    resource: SharingResource | None = None  # the resource to change; None: a new one


def resource_editor(db: Session, actor: Actor, resource_id: int | None = None) -> ResourceEditor:
    """The form for a department that may publish (anyone else: 403, as ``publish_resource`` would
    answer); with ``resource_id``, that resource, which must be the viewer's department's (another
    department's: 403; one that does not exist: 404)."""
    if resource_id is None:
        policy.require(actor, "sharing.resource.publish", resource_of(actor.org_id or 0))
        return ResourceEditor()
    resource = service.get_resource(db, actor, resource_id)
    policy.require(actor, "sharing.resource.publish", resource_of(resource.org_id))
    return ResourceEditor(resource)
