"""Pages built on read models, the one way every capability does it.

A capability's read model (``<capability>/read_models.py``) answers what a viewer sees and may do;
its page dataclass extends that view with what only the page needs (the form being refilled, the
reader's labels). ``extend`` copies the view's fields into the page, so a field added to a view
reaches every page built on it without each page listing it again.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

Page = TypeVar("Page")


def fields_of(view: Any) -> dict[str, Any]:
    """A dataclass instance's fields by name (shallow: the values are not copied)."""
    if not dataclasses.is_dataclass(view) or isinstance(view, type):
        raise TypeError(f"a read model is a dataclass instance, not {type(view).__name__}")
    return {f.name: getattr(view, f.name) for f in dataclasses.fields(view)}


def extend(page: type[Page], view: Any, **extra: Any) -> Page:
    """``page`` built from ``view``'s fields and ``extra`` (a name in both is an error, not a choice)."""
    values = fields_of(view)
    clash = values.keys() & extra.keys()
    if clash:
        raise TypeError(f"{page.__name__} takes {sorted(clash)} from the read model already")
    return page(**values, **extra)
