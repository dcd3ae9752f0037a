"""JSON from outside, parsed with a bound on nesting.

The standard parser recurses once per level, so a few kilobytes of ``[`` raise ``RecursionError``
(not a ``ValueError``) and anything that walks the result recurses as deep again. Documents
the platform reads are a handful of levels deep; refusing deeper input before parsing keeps
every later step safe.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32

# A JSON string (skipped whole, so brackets inside it do not count) or a bracket.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


class TooDeeplyNested(ValueError):
    def __init__(self, max_depth: int) -> None:
        super().__init__(f"JSON nested more than {max_depth} levels deep")
        self.max_depth = max_depth


def nesting_depth_exceeds(text: str, max_depth: int = MAX_DEPTH) -> bool:
    depth = 0
    for match in _TOKEN.finditer(text):
        piece = match.group()
        if piece in ("[", "{"):
            depth += 1
            if depth > max_depth:
                return True
        elif piece in ("]", "}"):
            depth -= 1
    return False


def loads(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that raises ``TooDeeplyNested`` (a ``ValueError``) beyond ``max_depth`` levels."""
    if nesting_depth_exceeds(text, max_depth):
        raise TooDeeplyNested(max_depth)
    return json.loads(text)
