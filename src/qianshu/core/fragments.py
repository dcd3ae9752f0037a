"""Rendered fragments of a page kept between requests: ``{% call fragment(key…) %}…{% endcall %}``.

Some parts of every page are the same for many requests and cost more to render than the rest of
the page: the main navigation (each item asks the permission policy whether the reader may see
it), and the industry and region pickers of the catalogue search (some 200 options, each escaped).
A template wraps such a part in a ``fragment`` call block whose key names everything the part
depends on besides the page's language (which is always part of the key); the block is rendered
the first time a key is seen and its HTML is reused afterwards. Only what the key and the language
determine may be inside: a block that read anything else (the request, the database, the time)
would show one reader's page to another.

The cache belongs to one Jinja environment (one app) and is a bounded LRU, so that keys made of
what a client sends (a picker's selected value) cannot grow it without end.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from qianshu.core.actor import Actor
from qianshu.core.lru import LruCache

DEFAULT_SIZE = 512


class Fragments:
    """The ``fragment`` global of a Jinja environment."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.kept: LruCache[Markup] = LruCache(size)

    @pass_context
    def __call__(self, context: Context, *key: Hashable, caller: Callable[[], str]) -> Markup:
        # the block's own output, escaped as it rendered
        return self.kept.get_or_load((context.get("lang"), *key), lambda: Markup(caller()))  # noqa: S704

    def __len__(self) -> int:
        return len(self.kept)


def reader_key(actor: Actor | None) -> Actor | None:
    """The part of an actor a fragment of what they may see depends on: everything the permission
    policy reads, not the address they came from nor the name they go by (so one entry serves
    every request of the same kind of reader)."""
    return None if actor is None else dataclasses.replace(actor, ip=None, display_name="")
