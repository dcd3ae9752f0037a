"""The capabilities that make up the platform, in the order of DESIGN.md's table.

Adding a capability means one folder with a ``manifest.py`` and one line here. Everything that
needs to know the capabilities (web app, CLI, job worker, migrations, demo, translations,
templates, events, the permission matrix and the docs tests) asks this module, which reads the
manifests. A listed capability that cannot be imported fails loudly, naming it.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

from qianshu.core.capability import (
    FILE_PARTS,
    FOLDER_PARTS,
    MODULE_PARTS,
    JobKind,
    Manifest,
    NavItem,
    Subscription,
    job_kind,
    resolve,
    subscriptions_of,
)

CAPABILITIES: tuple[str, ...] = (
    "accounts",
    "translog",
    "registry",
    "catalog",
    "ledger",
    "exchange",
    "delivery",
    "finance",
    "vouchers",
    "sharing",
    "monitoring",
)
# What every capability may use without declaring it (DESIGN.md: "Every capability may use core
# and accounts"); ``web`` and ``demo`` sit on top of all capabilities and are not capabilities.
IMPLICIT_USES = ("core", "accounts")
PACKAGE_ROOT = Path(__file__).resolve().parent
# What core itself publishes and runs (it is no capability and has no manifest).
CORE_EVENTS = ("qianshu.core.jobs:JobCrashed", "qianshu.core.jobs:JobRetried")
CORE_JOBS = {"core.deliver_event": JobKind("qianshu.core.events:deliver_event_job")}


class ManifestError(Exception):
    """A manifest that does not match its folder (raised at start-up and in the tests)."""


@lru_cache(maxsize=1)
def manifests() -> tuple[Manifest, ...]:
    """Every capability's manifest, in dependency order."""
    found = []
    for entry in CAPABILITIES:
        # A capability is a folder of this package, or (a dotted name) a package of its own.
        package, name = (entry, entry.rpartition(".")[2]) if "." in entry else (f"qianshu.{entry}", entry)
        try:
            module = importlib.import_module(f"{package}.manifest")
        except ModuleNotFoundError as exc:
            raise ManifestError(f"capability {name!r} is listed but has no manifest ({exc})") from exc
        manifest = getattr(module, "MANIFEST", None)
        if not isinstance(manifest, Manifest) or manifest.name != name or manifest.package != package:
            raise ManifestError(f"capability {name!r}: manifest.py must define MANIFEST = Manifest(name={name!r}, ...)")
        found.append(manifest)
    return tuple(found)


def manifest(name: str) -> Manifest:
    for found in manifests():
        if found.name == name:
            return found
    raise ManifestError(f"no capability named {name!r}")


def with_part(part: str) -> list[Manifest]:
    """The capabilities that declare ``part`` (``"api"``, ``"templates"``, a non-empty ``"jobs"`` ...)."""
    return [m for m in manifests() if getattr(m, part)]


def folder(m: Manifest) -> Path:
    if m.package_name is None:
        return PACKAGE_ROOT / m.name
    return Path(importlib.import_module(m.package_name).__file__ or "").resolve().parent


def event_types() -> dict[str, Any]:
    """Event name → its ``core.events.Event`` dataclass, from core and every manifest."""
    return {cls.name: cls for _publisher, cls in _events()}


def declared_events() -> dict[str, str]:
    """Event name → the capability that publishes it (core publishes ``job.crashed`` and ``job.retried``)."""
    return {cls.name: publisher for publisher, cls in _events()}


def _events() -> list[tuple[str, Any]]:
    """(publisher, event class) of every declared event that is one (``check`` names the others)."""
    found = []
    for publisher, ref in [*(("core", ref) for ref in CORE_EVENTS),
                           *((m.name, ref) for m in manifests() for ref in m.events)]:
        if _event_problem(ref) is None:
            found.append((publisher, resolve(ref)))
    return found


def _event_problem(ref: str) -> str | None:
    from qianshu.core.events import Event

    if importlib.util.find_spec(ref.partition(":")[0]) is None:
        return f"declares the event {ref!r}, whose module does not exist"
    cls = resolve(ref)
    if not (isinstance(cls, type) and issubclass(cls, Event) and dataclasses.is_dataclass(cls)
            and cls.__dataclass_params__.frozen and cls.name):  # type: ignore[attr-defined]
        return f"the event {ref!r} must be a frozen dataclass derived from core.events.Event with a name"
    return None


def _event_problems(m: Manifest) -> list[str]:
    problems = [f"{m.name}: {problem}" for problem in map(_event_problem, m.events) if problem]
    mine = {resolve(ref) for ref in m.events if _event_problem(ref) is None}
    for publisher, cls in _events():
        for other in mine:
            if other is not cls and other.name == cls.name:
                problems.append(f"{m.name}: the event name {cls.name!r} is taken by {publisher}'s "
                                f"{cls.__module__}:{cls.__qualname__}")
    return problems


def check(*, imports: bool = True) -> list[str]:
    """Every way a manifest can disagree with its folder, as messages naming the capability.

    Declared parts must exist and parts that exist must be declared; uses must name earlier
    capabilities; subscriptions must name declared events; with ``imports``, the folder's modules
    may import only the capabilities the manifest uses (read with ``ast``: nothing is imported).
    """
    problems: list[str] = []
    names = [m.name for m in manifests()]
    for position, m in enumerate(manifests()):
        base = folder(m)
        for part, module in MODULE_PARTS.items():
            exists = (base / f"{module}.py").exists()
            if getattr(m, part) and not exists:
                problems.append(f"{m.name}: declares {part} but has no {module}.py")
            if exists and not getattr(m, part):
                problems.append(f"{m.name}: has {module}.py but its manifest does not declare {part}")
        for part, sub in {**FOLDER_PARTS, **FILE_PARTS}.items():
            exists = (base / sub).exists()
            if getattr(m, part) and not exists:
                problems.append(f"{m.name}: declares {part} but has no {sub}")
            if exists and not getattr(m, part):
                problems.append(f"{m.name}: has {sub} but its manifest does not declare {part}")
        for used in m.uses:
            if used not in names[:position]:
                problems.append(f"{m.name}: uses {used!r}, which is not a capability listed before it")
        problems += _job_problems(m)
        refs = [job_kind(j).handler for j in m.jobs.values() if isinstance(j, (str, JobKind))]
        refs += [*(p.task for p in m.periodic.values()),
                 *(sub.handler for declared in m.subscriptions.values() for sub in subscriptions_of(declared))]
        refs += [m.demo] if m.demo else []
        refs += [m.actions] if m.actions else []
        refs += [m.settings] if m.settings else []
        refs += [m.blob_references] if m.blob_references else []
        refs += [m.contract_panel] if m.contract_panel else []
        refs += [m.product_panel] if m.product_panel else []
        refs += [m.certificate_panel] if m.certificate_panel else []
        for ref in refs:
            module_name = ref.partition(":")[0]
            if importlib.util.find_spec(module_name) is None:
                problems.append(f"{m.name}: refers to {ref!r}, whose module does not exist")
        event_problems = _event_problems(m)
        problems += event_problems
        refs += list(m.events)
        problems += _settings_problems(m)
        for extra in ("jobs", "hooks", "events", "permissions", "settings"):
            if (base / f"{extra}.py").exists() and not any(r.startswith(f"{m.package}.{extra}:") for r in refs):
                problems.append(f"{m.name}: has {extra}.py but its manifest refers to nothing in it")
        events = declared_events()
        for event, declared in m.subscriptions.items():
            if event not in events:
                problems.append(f"{m.name}: subscribes to {event!r}, which no manifest declares")
            entries = declared if isinstance(declared, tuple) else (declared,)
            if not entries or not all(isinstance(e, (str, Subscription)) for e in entries):
                problems.append(f"{m.name}: the subscription to {event!r} must be a 'module:handler' string, "
                                "a Subscription, or a tuple of them")
        if imports:
            problems += _undeclared_imports(m, names)
    problems += _action_problems()
    return problems


def _settings_problems(m: Manifest) -> list[str]:
    from qianshu.core.settings import Section

    if not m.settings or importlib.util.find_spec(m.settings.partition(":")[0]) is None:
        return []
    try:
        cls = resolve(m.settings)
    except (ImportError, AttributeError) as exc:
        return [f"{m.name}: its settings {m.settings!r} cannot be read: {exc}"]
    if not (isinstance(cls, type) and issubclass(cls, Section)):
        return [f"{m.name}: its settings {m.settings!r} is not a core.settings.Section"]
    if getattr(cls, "name", None) != m.name:
        return [f"{m.name}: its settings section is named {getattr(cls, 'name', None)!r}, not {m.name!r}"]
    return []


def settings_sections() -> dict[str, Any]:
    """Section name → its ``core.settings.Section`` class, from every manifest that declares one."""
    return {m.name: resolve(m.settings) for m in manifests() if m.settings}


def settings_problems(settings: Any) -> list[str]:
    """What is wrong with the capabilities' settings: a table no capability reads (a typo would
    otherwise be ignored), an unknown key in a table, a value out of range; each names the table."""
    from pydantic import ValidationError

    from qianshu.core.settings import read_settings_file

    sections = settings_sections()
    problems = []
    top = read_settings_file(settings.data_dir)
    for key in sorted(k for k, v in top.items() if not isinstance(v, dict) and k not in type(settings).model_fields):
        home = next((name for name, cls in sections.items() if key in cls.model_fields), None)
        hint = f"; it belongs in the [{home}] table / 它属于 [{home}] 节" if home else ""
        problems.append(f"{key}: not a setting of Qianshu / 不是黔数的设置{hint}")
    for name in sorted(set(settings.sections) - set(sections)):
        problems.append(f"[{name}]: no capability has settings of that name (known: {', '.join(sorted(sections))}) / "
                        f"没有名为 [{name}] 的设置节")
    for name, cls in sections.items():
        try:
            settings.section(cls)
        except ValidationError as exc:
            for error in exc.errors():
                key = ".".join(str(part) for part in error["loc"])
                problems.append(f"[{name}] {key}: {error['msg']} / 设置 [{name}] {key} 无效")
    return problems


def _action_problems() -> list[str]:
    from qianshu.core.policy import check_declarations

    try:
        return check_declarations(declared_actions().values())
    except (ManifestError, ImportError, AttributeError) as exc:
        return [str(exc)]


def _job_problems(m: Manifest) -> list[str]:
    problems = []
    for kind, declared in m.jobs.items():
        if not isinstance(declared, (str, JobKind)):
            problems.append(f"{m.name}: job kind {kind!r} must be a 'module:handler' string or a JobKind")
        elif not job_kind(declared).handler.partition(":")[2]:
            problems.append(f"{m.name}: job kind {kind!r} names no handler ('module:handler')")
        elif isinstance(declared, JobKind) and declared.concurrency is not None and (
                not isinstance(declared.concurrency, int) or declared.concurrency < 1):
            problems.append(f"{m.name}: job kind {kind!r} has concurrency {declared.concurrency!r}; "
                            "it must be a whole number of at least 1")
    return problems


def allowed_uses(m: Manifest) -> set[str]:
    """What a capability may import: itself, core, accounts, what it uses and what those use."""
    allowed = {m.name, *IMPLICIT_USES}
    pending = list(m.uses)
    while pending:
        used = pending.pop()
        if used not in allowed:
            allowed.add(used)
            pending.extend(manifest(used).uses if used not in IMPLICIT_USES else ())
    return allowed


@lru_cache(maxsize=4096)
def _absolute_imports(path: Path, _mtime_ns: int) -> tuple[tuple[str, int], ...]:
    """The modules a file imports absolutely, with their lines; read once per version of the file
    (parsing every capability's files took seconds, and ``check`` runs at every start-up)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        targets = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
        found += [(target, getattr(node, "lineno", 0)) for target in targets]
    return tuple(found)


def _undeclared_imports(m: Manifest, names: list[str]) -> list[str]:
    allowed = allowed_uses(m)
    problems = []
    for path in sorted(folder(m).rglob("*.py")):
        for target, line in _absolute_imports(path, path.stat().st_mtime_ns):
            parts = target.split(".")
            if len(parts) >= 2 and parts[0] == "qianshu" and parts[1] in names and parts[1] not in allowed:
                where = path.relative_to(folder(m).parents[len(m.package.split(".")) - 1])
                problems.append(f"{m.name}: {where}:{line} imports {target}, but the manifest does not "
                                f"declare uses={parts[1]!r}")
    return problems


def declared_actions() -> dict[str, Any]:
    """Action name → its ``core.policy.Action``, from every manifest (an action declared twice is an error)."""
    from dataclasses import replace

    found: dict[str, Any] = {}
    for m in manifests():
        for declared in resolve(m.actions) if m.actions else ():
            if declared.name in found:
                raise ManifestError(f"{m.name}: action {declared.name!r} is declared twice")
            found[declared.name] = replace(declared, capability=m.name)
    return found


def check_or_fail(settings: Any = None) -> None:
    """Start-up check: refuse to start with a manifest that disagrees with its folder, or with
    settings that no capability reads or that a capability refuses."""
    problems = check(imports=False)
    if problems:
        raise ManifestError("capability manifests do not match their folders:\n  " + "\n  ".join(problems))
    problems = settings_problems(settings) if settings is not None else []
    if problems:
        raise ManifestError("settings are not valid / 设置无效:\n  " + "\n  ".join(problems))


# --- the parts, resolved for the web app, the CLI, the worker and the migrations ---------------

def job_kinds() -> dict[str, JobKind]:
    """Job kind → its declaration, from every manifest (a kind declared twice is an error)."""
    kinds: dict[str, JobKind] = dict(CORE_JOBS)
    for m in manifests():
        for kind, declared in m.jobs.items():
            if kind in kinds:
                raise ManifestError(f"{m.name}: job kind {kind!r} is declared twice")
            kinds[kind] = job_kind(declared)
    return kinds


def job_handlers() -> dict[str, Any]:
    """Job kind → handler, from every manifest."""
    return {kind: resolve(declared.handler) for kind, declared in job_kinds().items()}


def job_concurrency() -> dict[str, int]:
    """Job kind → how many jobs of it one worker process runs at once (kinds without a limit are absent)."""
    return {kind: declared.concurrency for kind, declared in job_kinds().items() if declared.concurrency}


def blob_reference_checks() -> list[Any]:
    """Each capability's ``blob_references`` function (``function(db, digest) -> bool``)."""
    return [resolve(m.blob_references) for m in manifests() if m.blob_references]


def contract_panels() -> list[Any]:
    """Each capability's ``contract_panel`` hook (``function(db, actor, contract) -> panel | None``),
    in capability order: the sections the exchange's contract page shows."""
    return [resolve(m.contract_panel) for m in manifests() if m.contract_panel]


def product_panels() -> list[Any]:
    """Each capability's ``product_panel`` hook (``function(db, actor, listing) -> panel | None``),
    in capability order: the sections the catalogue's product page shows."""
    return [resolve(m.product_panel) for m in manifests() if m.product_panel]


def certificate_panels() -> list[Any]:
    """Each capability's ``certificate_panel`` hook (``function(db, actor, certificate) -> panel |
    None``), in capability order: the sections the registry's certificate page shows."""
    return [resolve(m.certificate_panel) for m in manifests() if m.certificate_panel]


def periodic_tasks() -> dict[str, tuple[float, Any]]:
    """Task name → (interval in seconds, task) from every manifest."""
    return {name: (p.seconds, resolve(p.task)) for m in manifests() for name, p in m.periodic.items()}


def subscribers() -> dict[str, list[Any]]:
    """Event name → its ``core.events.Subscriber`` records, in capability order."""
    from qianshu.core.events import Subscriber

    table: dict[str, list[Any]] = {}
    for m in manifests():
        for event, declared in m.subscriptions.items():
            for sub in subscriptions_of(declared):
                table.setdefault(event, []).append(Subscriber(m.name, sub.handler, resolve(sub.handler),
                                                              sub.in_transaction))
    return table


def subscriptions() -> dict[str, list[Any]]:
    """Event name → its handlers, in capability order."""
    return {event: [s.handler for s in found] for event, found in subscribers().items()}


def model_modules() -> list[ModuleType]:
    return [m.module("models") for m in with_part("models")]


def translation_folders() -> list[Path]:
    """The capabilities' ``locale/`` folders (gettext catalogues), in capability order."""
    return [folder(m) / "locale" for m in with_part("translations")]


def translation_files(lang: str = "zh") -> list[Path]:
    """Each capability's catalogue for ``lang``: ``locale/<lang>/LC_MESSAGES/messages.po``."""
    return [path / lang / "LC_MESSAGES" / "messages.po" for path in translation_folders()]


def template_folders() -> list[Path]:
    return [folder(m) / "templates" for m in with_part("templates")]


def static_folders() -> dict[str, Path]:
    return {m.name: folder(m) / "static" for m in with_part("static")}


def nav_items() -> list[NavItem]:
    return sorted((item for m in manifests() for item in m.nav), key=lambda item: item.order)


def nav_menus() -> list[tuple[str, list[NavItem]]]:
    """The top bar's menus, each with its links in order; a menu stands where its first link would."""
    menus: dict[str, list[NavItem]] = {}
    for item in nav_items():
        if item.menu:
            menus.setdefault(item.menu, []).append(item)
    return list(menus.items())


def demo_steps() -> list[Any]:
    return [resolve(m.demo) for m in manifests() if m.demo]
