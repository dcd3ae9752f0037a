"""The manifest: how a capability declares itself, once, in code.

Each capability folder holds ``manifest.py`` with ``MANIFEST = Manifest(...)``: its name, the
capabilities it uses, and every part it contributes. The web app, the CLI, the job worker, the
migration environment, the demo, the permission matrix and the docs tests read the manifests;
nothing else lists capabilities or globs for their files.

Parts are referenced as ``"module:attribute"`` strings and imported only when used, so reading
every manifest costs almost nothing (the CLI starts without importing FastAPI or the services).
``qianshu.capabilities.check`` verifies, at start-up and in the tests, that every declared part
exists, that every part present is declared, and that a capability uses only what it declares.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qianshu.core.i18n import N_

# The top bar's menus (a ``NavItem``'s ``menu``): with ten capabilities the links no longer fit on
# one line, so what belongs to the signed-in user, the public record and the staff's work each
# fold into one menu; the rest stay in the bar.
MENU_MINE = N_("My workspace")
MENU_PUBLIC = N_("Public record")
MENU_OPERATIONS = N_("Operations")

# The parts a capability folder may hold: manifest field → module (or folder) name.
MODULE_PARTS = {"models": "models", "api": "api", "pages": "pages", "cli": "cli", "home": "home"}
FOLDER_PARTS = {"templates": "templates", "static": "static", "translations": "locale"}
FILE_PARTS: dict[str, str] = {}


def resolve(ref: str) -> Any:
    """Import ``"package.module:attribute"`` (or a whole module when there is no colon)."""
    module, _, attribute = ref.partition(":")
    loaded = importlib.import_module(module)
    return getattr(loaded, attribute) if attribute else loaded


@dataclass(frozen=True)
class NavItem:
    """A link in the portal's top bar, shown to the actors ``audience`` accepts (everyone if None)."""

    href: str
    label: str
    audience: Callable[[Any], bool] | None = None
    order: int = 50
    menu: str = ""  # one of the MENU_* titles, or "" for the bar itself

    def visible(self, actor: Any) -> bool:
        return True if self.audience is None else bool(self.audience(actor))


@dataclass(frozen=True)
class JobKind:
    """A job kind's handler (``handler(context, job_id, progress)``) and how many jobs of the kind
    one worker process runs at once (None: as many as it has threads)."""

    handler: str
    concurrency: int | None = None


def job_kind(declared: str | JobKind) -> JobKind:
    """A manifest's job entry as a ``JobKind`` (a plain string is the handler)."""
    return declared if isinstance(declared, JobKind) else JobKind(handler=declared)


@dataclass(frozen=True)
class Periodic:
    """A task the job worker runs every ``seconds``: ``task(database, settings)``."""

    seconds: float
    task: str


@dataclass(frozen=True)
class Subscription:
    """A subscriber to an event: ``handler(database, event)`` after the publishing transaction
    commits (the default), or ``handler(db, event)`` inside it when ``in_transaction`` (only for a
    subscriber that must write in that transaction; see core/events.py)."""

    handler: str
    in_transaction: bool = False


Subscribes = str | Subscription | tuple[str | Subscription, ...]


def subscription(declared: str | Subscription) -> Subscription:
    """A manifest's subscription as a ``Subscription`` (a plain string: after commit)."""
    return declared if isinstance(declared, Subscription) else Subscription(handler=declared)


def subscriptions_of(declared: Subscribes) -> list[Subscription]:
    """A manifest's entry for one event (one subscriber, or a tuple of them) as ``Subscription``s;
    anything else gives no subscription (``capabilities.check`` names it)."""
    entries = declared if isinstance(declared, tuple) else (declared,)
    return [subscription(e) for e in entries if isinstance(e, (str, Subscription))]


@dataclass(frozen=True)
class Manifest:
    name: str
    title: str
    uses: tuple[str, ...] = ()
    models: bool = False
    api: bool = False  # api.py with ``router`` (and optionally ``warm_up(database)``)
    pages: bool = False  # pages.py with ``router``
    cli: bool = False  # cli.py with ``install(app)``
    home: bool = False  # home.py with ``figures(db)`` and ``waiting(db, actor)`` (core/home.py)
    nav: tuple[NavItem, ...] = ()
    jobs: dict[str, str | JobKind] = field(default_factory=dict)  # job kind → "module:handler" or JobKind
    periodic: dict[str, Periodic] = field(default_factory=dict)
    events: tuple[str, ...] = ()  # the events it publishes: "module:EventClass" (core.events.Event dataclasses)
    # event name → a handler ("module:handler", after commit), a Subscription, or a tuple of them
    subscriptions: dict[str, Subscribes] = field(default_factory=dict)
    demo: str | None = None  # "module:seed", a ``seed(database, settings, org_ids)`` step
    templates: bool = False  # templates/<name>/
    static: bool = False  # static/, served at /static/<name>/
    translations: bool = False  # locale/{zh,en}/LC_MESSAGES/messages.po
    # "module:ACTIONS": the permission actions it declares (core.policy.Action), usually permissions.py
    actions: str | None = None
    # "module:Class": its settings section (a core.settings.Section named like the capability),
    # usually settings.py; read with ``settings.section(Class)``.
    settings: str | None = None
    # "module:function": ``function(db, digest) -> bool``, whether a row of the capability refers
    # to that blob; the blob sweep (registry's orphan sweep) keeps a blob any capability refers to.
    blob_references: str | None = None
    # "module:function": ``function(db, actor, contract) -> panel | None``, the capability's section
    # of the exchange's contract page (an object with ``template``, the partial the page includes
    # with ``panel`` set; docs/architecture.md, "The contract page's panels").
    contract_panel: str | None = None
    # "module:function": ``function(db, actor, listing) -> panel | None``, the capability's section
    # of the catalogue's product page (an object with ``template``, included with ``panel`` set;
    # docs/architecture.md, "The product page's panels").
    product_panel: str | None = None
    # "module:function": ``function(db, actor, certificate) -> panel | None``, the capability's
    # section of the registry's certificate page, where a scanned QR code lands (an object with
    # ``template``, included with ``panel`` set; docs/architecture.md, "The certificate page's panels").
    certificate_panel: str | None = None
    # The package the capability lives in, when it is not ``qianshu.<name>`` (the example
    # capability of the tests lives in ``tests.example_capability``).
    package_name: str | None = None

    @property
    def package(self) -> str:
        return self.package_name or f"qianshu.{self.name}"

    def module(self, part: str) -> Any:
        """The imported part (``"api"``, ``"pages"`` ...), which the manifest must declare."""
        if not getattr(self, part):
            raise LookupError(f"capability {self.name!r} does not declare {part!r}")
        return importlib.import_module(f"{self.package}.{MODULE_PARTS[part]}")
