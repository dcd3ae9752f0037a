"""The capability folders that make up the platform, in the order of DESIGN.md's table.

A new capability slots in by adding its folder name here: the web app mounts its ``api``
and ``pages`` routers, the CLI adds its ``cli`` commands and the migration environment
loads its ``models``, each only where the module exists.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

CAPABILITIES: tuple[str, ...] = ("accounts", "translog", "registry", "catalog")


def capability_modules(module: str) -> list[ModuleType]:
    """Import ``qianshu.<capability>.<module>`` for every capability that has one."""
    found = []
    for name in CAPABILITIES:
        if importlib.util.find_spec(f"qianshu.{name}") is None:  # a capability not installed
            continue
        dotted = f"qianshu.{name}.{module}"
        if importlib.util.find_spec(dotted) is not None:
            found.append(importlib.import_module(dotted))
    return found
