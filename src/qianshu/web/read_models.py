"""What the home page shows, read by one function: the capabilities' headline figures (the same for
every visitor, so the page may keep them a few seconds), what waits for the viewer (each
capability's ``home.waiting``, which asks the policy), how the viewer stands (``accounts``), and so
which tiles to offer. Nothing here knows HTTP; ``pages.py`` renders it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from qianshu import capabilities
from qianshu.accounts import read_models as accounts
from qianshu.core.actor import Actor
from qianshu.core.home import Figure, Waiting


@dataclass(frozen=True)
class Tile:
    href: str
    title: str  # message ids
    text: str
    offer: str = ""  # a ``Standing`` flag the tile needs ("apply"); empty: offered to everyone


TILES = (
    Tile("/catalog", "Catalogue", "Find data products by keyword, industry and region."),
    Tile("/registry", "Data registration", "Register data and receive a signed certificate."),
    Tile("/log", "Public log", "Check any certificate against the tamper-evident log."),
    Tile("/apply", "Apply to join", "Organisations apply; the exchange reviews them.", offer="apply"),
)


@dataclass(frozen=True)
class HomeView:
    tiles: list[Tile] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)  # only what has something to do
    standing: accounts.Standing = field(default_factory=accounts.Standing)


def figures(db: Session) -> list[Figure]:
    """Every capability's headline figures (public counts)."""
    return [figure for m in capabilities.with_part("home") for figure in m.module("home").figures(db)]


def waiting(db: Session | None, actor: Actor) -> list[Waiting]:
    """What the signed-in ``actor`` should act on, counted fresh; only what is there to do."""
    if db is None or actor.user_id is None:
        return []
    found = [w for m in capabilities.with_part("home") for w in m.module("home").waiting(db, actor)]
    return [w for w in found if w.count > 0]


def home(db: Session | None, actor: Actor, shown_figures: list[Figure]) -> HomeView:
    """The home page for ``actor``, with the figures the page keeps (``figures``); ``db`` may be
    ``None`` for an anonymous visitor (nothing waits for them)."""
    standing = accounts.standing(actor)
    tiles = [t for t in TILES if not t.offer or getattr(standing, t.offer)]
    return HomeView(tiles, shown_figures, waiting(db, actor), standing)
