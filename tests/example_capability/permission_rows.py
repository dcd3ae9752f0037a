"""The example's row of the permission matrix: its route, its action, the object (a division)."""

from __future__ import annotations

from typing import Any

from qianshu.core.policy import Resource
from tests.permission_support import Row

ROWS = {
    ("GET", "/api/v1/example/divisions/{code}"): Row(params=lambda c: {"code": "520102"},
                                                     action="example.inspect", on="division"),
}


def setup(ctx: dict[str, Any], db: Any, make: Any, actor: Any, env: dict[str, Any]) -> None:
    ctx.setdefault("res", {})["division"] = Resource(division="520102")
