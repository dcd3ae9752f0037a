"""What a capability shows on the home page: headline figures for everyone, and for a signed-in
user what waits for them.

A capability that declares ``home=True`` in its manifest has ``home.py`` with
``figures(db) -> list[Figure]`` (public counts, the same for every visitor, so the home page may
keep them for a short while) and ``waiting(db, actor) -> list[Waiting]`` (what this actor should
act on, counted fresh). Both only read.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """A headline figure: ``label`` is a message id, shown with the number and linked to ``href``."""

    label: str
    value: int
    href: str


@dataclass(frozen=True)
class Waiting:
    """Work waiting for the actor: ``singular``/``plural`` are message ids taking ``{n}``."""

    singular: str
    plural: str
    count: int
    href: str
