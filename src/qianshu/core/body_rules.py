"""How large a request body may be, and whether it is read before the route runs.

Every request body is read whole before the application sees it (``web/body_limits.py``), so
that no route waits on the network while its transaction holds a lock. By default a body may be
``request_max_bytes`` (JSON, forms). A capability that takes files declares its routes in a
module-level ``BODY_RULES`` list of its ``api`` or ``pages`` module: a larger limit (read from
the settings on each request, so a changed setting applies at once), or ``stream=True`` for a
route that streams its raw body into the blob store outside any transaction itself (the body
then reaches the route unread, refused at once only when its declared length is over the limit;
the route bounds what it reads).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from qianshu.core.settings import Settings

# Set in the ASGI scope when the request's body is already in hand (read whole, or there is none):
# reading it then waits on no one. A streamed upload's body is not, and nothing may parse it as a form.
BODY_IN_HAND = "qianshu.body_in_hand"
# Set by a streamed upload's route (``core/http.py``): its body has been read to its end; or, after a
# refusal, the rest of it was left unread (the answer then closes the connection, web/body_limits.py).
BODY_ENDED = "qianshu.body_ended"
BODY_LEFT_UNREAD = "qianshu.body_left_unread"
# Set by web/body_limits.py on a streamed upload: the ``BodyPace`` its body must keep up.
BODY_PACE = "qianshu.body_pace"


@dataclass
class BodyPace:
    """How fast a streamed body must arrive, as Apache's mod_reqtimeout paces a body
    (``body=20,MinRate=500``): within ``grace`` seconds of the start, plus one second for every
    ``min_rate`` bytes received. A large upload on a slow link keeps its time; a client that drips
    a few bytes to hold a worker thread is cut off. ``received`` counts what has arrived."""
    started: float
    grace: float
    min_rate: int
    received: int = 0

    def seconds_left(self, now: float) -> float:
        return self.started + self.grace + self.received / self.min_rate - now


@dataclass(frozen=True)
class BodyRule:
    method: str
    path: str  # a regular expression the whole path must match
    limit: Callable[[Settings], int]
    stream: bool = False
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", re.compile(self.path))

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and self.pattern.fullmatch(path) is not None
