"""Shared pieces of the permission matrix (tests/test_permission_matrix.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ROLES = ("anonymous", "pending_admin", "member", "admin", "operator", "reviewer", "auditor")
EVERYONE = frozenset(ROLES)
SIGNED_IN = EVERYONE - {"anonymous"}
ACTIVE = frozenset({"member", "admin", "operator", "reviewer", "auditor"})  # users of approved organisations
STAFF = frozenset({"operator", "reviewer", "auditor"})
NOBODY: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Row:
    allowed: frozenset[str]
    body: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    params: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    query: str = ""
