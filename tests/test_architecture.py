"""The architecture of docs/architecture.md, checked by reading every module's imports with ``ast``.

Rules (each violation names the file, the line and the rule):

- **direction**: a capability imports only the capabilities its manifest uses (and what those use),
  `core` and `accounts`; `core` imports nothing of ours but `core`; no capability imports `web`,
  `demo` or the top-level modules (`qianshu.cli`, `qianshu.models`, `qianshu.bootstrap`).
- **no HTTP in rules**: only a capability's `api.py`, `pages.py` and `deps.py`, and the modules that
  split them (`<part>_api.py`, `<part>_pages.py`), and core's HTTP glue may import FastAPI or Starlette.
- **portals stay apart**: a portal module never imports another capability's portal modules.
- **private names**: no module uses another module's `_private` names.
- **tables through services**: a capability never imports another capability's `models`
  (its tables) except for type annotations; it reads them through that capability's services.
- **pages only render**: a portal module (`pages.py`, `<part>_pages.py`) does not import the
  permission policy (`qianshu.core.policy`): what the viewer may do comes from the capability's read
  model (`<capability>/read_models.py`) and what may be done from its services. Every portal
  module is on its read model; there are no exceptions.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from qianshu import capabilities

SRC = Path(__file__).resolve().parent.parent / "src"
TOP_LEVEL = {"cli", "models", "bootstrap", "web", "demo", "capabilities", "worker"}
HTTP_MODULES = {"api", "pages", "deps"}
HTTP_SUFFIXES = ("_api", "_pages")  # a capability's router split by part (catalog/demand_pages.py)


def is_http_module(module: str) -> bool:
    return module in HTTP_MODULES or module.endswith(HTTP_SUFFIXES)


def is_portal_module(module: str) -> bool:
    return module == "pages" or module.endswith("_pages")
CORE_HTTP = {"qianshu/core/http.py", "qianshu/core/csrf.py", "qianshu/core/openapi.py"}


def _asks_the_policy(target: str, names: list[str]) -> bool:
    return target == "qianshu.core.policy" or (target == "qianshu.core" and "policy" in names)


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: [{self.rule}] {self.detail}"


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                lines.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    return lines


def _imports(tree: ast.Module) -> list[tuple[int, str, list[str]]]:
    """(line, module, imported names) for every absolute import."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module, [alias.name for alias in node.names]))
    return found


def check_file(path: Path, root: Path, allowed: dict[str, set[str]]) -> list[Violation]:
    rel = path.relative_to(root).as_posix()
    parts = rel.split("/")  # qianshu/<area>/<module>.py
    area = parts[1] if len(parts) > 2 else parts[1].removesuffix(".py")
    module = parts[-1].removesuffix(".py")
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    typing_only = _type_checking_lines(tree)
    out: list[Violation] = []
    own_modules: dict[str, str] = {}  # local alias → dotted module of ours, for private-name checks
    for line, target, names in _imports(tree):
        pieces = target.split(".")
        if pieces[0] in ("fastapi", "starlette") and area in allowed and not is_http_module(module):
            out.append(Violation(rel, line, "no HTTP in rules", f"{module}.py imports {target}"))
        if area == "core" and pieces[0] in ("fastapi", "starlette") and rel not in CORE_HTTP:
            out.append(Violation(rel, line, "no HTTP in rules", f"core module imports {target}"))
        if is_portal_module(module) and area in allowed and _asks_the_policy(target, names):
            out.append(Violation(rel, line, "pages only render",
                                 f"{module}.py imports {target}; ask {area}'s read model what the viewer may do"))
        if pieces[0] != "qianshu" or len(pieces) < 2:
            continue
        other = pieces[1]
        for name in names:
            if name.startswith("_") and not name.startswith("__"):
                out.append(Violation(rel, line, "private names", f"imports {name} from {target}"))
            own_modules[name] = f"{target}.{name}"
        own_modules[pieces[-1]] = target
        if area == "core" and other != "core":
            out.append(Violation(rel, line, "direction", f"core imports {target}"))
        if area in allowed:
            if other in TOP_LEVEL:
                out.append(Violation(rel, line, "direction", f"capability {area} imports {target}"))
            elif other != "core" and other not in allowed[area]:
                out.append(Violation(rel, line, "direction",
                                     f"{area} imports {target}, which its manifest does not use"))
            if other in allowed and other != area and len(pieces) > 2 and pieces[2] == "models" \
                    and line not in typing_only:
                out.append(Violation(rel, line, "tables through services",
                                     f"{area} imports {other}'s tables ({target}); use {other}'s service functions"))
            if is_portal_module(module) and other in allowed and other != area and len(pieces) > 2 \
                    and is_portal_module(pieces[2]):
                out.append(Violation(rel, line, "portals stay apart", f"{area}'s portal imports {target}"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__") \
                and isinstance(node.value, ast.Name) and node.value.id in own_modules:
            out.append(Violation(rel, node.lineno, "private names",
                                 f"uses {node.value.id}.{node.attr} of {own_modules[node.value.id]}"))
    return out


def check_tree(root: Path, allowed: dict[str, set[str]]) -> list[Violation]:
    return [v for path in sorted((root / "qianshu").rglob("*.py")) if "migrations" not in path.parts
            for v in check_file(path, root, allowed)]


def _allowed() -> dict[str, set[str]]:
    return {m.name: capabilities.allowed_uses(m) for m in capabilities.manifests()}


def test_the_code_follows_the_architecture() -> None:
    violations = check_tree(SRC, _allowed())
    assert not violations, "\n" + "\n".join(map(str, violations))


PLANTED = {
    "qianshu/registry/service.py": ("from fastapi import Request\n", "no HTTP in rules"),
    "qianshu/registry/review.py": ("from qianshu.catalog import service\n", "direction"),
    "qianshu/core/thing.py": ("from qianshu.registry import service\n", "direction"),
    "qianshu/catalog/pages.py": ("from qianshu.registry.pages import router\n", "portals stay apart"),
    "qianshu/catalog/product.py": ("from qianshu.registry.models import Registration\n", "tables through services"),
    "qianshu/catalog/search.py": ("from qianshu.registry import service\nservice._load(1, 2)\n", "private names"),
    "qianshu/translog/api.py": ("from qianshu.web.app import create_app\n", "direction"),
    "qianshu/finance/pages.py": ("def page():\n    from qianshu.core.policy import allows\n", "pages only render"),
    "qianshu/vouchers/contract_pages.py": ("from qianshu.core import policy\n", "pages only render"),
}


@pytest.mark.parametrize("planted", sorted(PLANTED))
def test_a_planted_violation_is_named_with_file_line_and_rule(tmp_path: Path, planted: str) -> None:
    code, rule = PLANTED[planted]
    target = tmp_path / planted
    target.parent.mkdir(parents=True)
    target.write_text("from __future__ import annotations\n\n" + code, encoding="utf-8")
    violations = check_tree(tmp_path, _allowed())
    assert [v.rule for v in violations] == [rule], violations
    assert violations[0].path == planted
    assert violations[0].line >= 3


def test_type_annotations_may_name_another_capabilitys_tables(tmp_path: Path) -> None:
    target = tmp_path / "qianshu/catalog/views.py"
    target.parent.mkdir(parents=True)
    target.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                      "    from qianshu.registry.models import Registration\n", encoding="utf-8")
    assert check_tree(tmp_path, _allowed()) == []
