"""docs/permissions.md lists every action the capabilities declare, with who may do it."""

from __future__ import annotations

from pathlib import Path

from qianshu.core import policy

DOC = Path(__file__).resolve().parent.parent / "docs" / "permissions.md"


def test_the_permissions_page_lists_every_declared_action() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [name for name in policy.actions() if f"| `{name}` |" not in text]
    assert not missing, f"docs/permissions.md lacks {missing}: run python -m qianshu.core.policy > docs/permissions.md"
    assert text == policy.document(policy.actions().values()), (
        "docs/permissions.md differs from the declarations: run python -m qianshu.core.policy > docs/permissions.md")
