"""The events sharing publishes (declared in its manifest; see core/events.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from qianshu.core.events import Event


@dataclass(frozen=True)
class FeedFilePublished(Event):
    """A department published a new version of a resource's feed (``sharing_files``): a grantee
    that receives the feed (monitoring's feeds through sharing) takes it through its grant."""

    name: ClassVar[str] = "sharing.file_published"
    resource_id: int
    file_id: int
