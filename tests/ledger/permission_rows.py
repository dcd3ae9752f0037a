"""Ledger routes by role: an organisation's wallet for its administrators, operators and auditors;
the books for operators and auditors; deposits and withdrawals for operators."""

from __future__ import annotations

from typing import Any

from qianshu.core.actor import Actor
from qianshu.core.policy import Resource
from qianshu.ledger import service
from tests.permission_support import Row

BOOKKEEPERS = frozenset({"operator", "auditor"})
OWN_OR_BOOKKEEPER = frozenset({"admin", "pending_admin", "operator", "auditor"})
OPERATOR = frozenset({"operator"})
OWN = lambda c: {"org_id": c["ledger_own_org"]}  # noqa: E731 - table of small lambdas
OTHER = lambda c: {"org_id": c["ledger_other_org"]}  # noqa: E731
MOVE = lambda c: {"org_id": c["ledger_other_org"], "amount_fen": 100, "bank_reference": "M-1"}  # noqa: E731

ROWS = {
    ("GET", "/api/v1/ledger/wallets/{org_id}"): Row(OWN_OR_BOOKKEEPER, params=OWN, action="ledger.statement.read",
                                                    on="ledger_own", also=(
        Row(params=OTHER, action="ledger.statement.read", on="ledger_other"),)),
    ("GET", "/api/v1/ledger/wallets/{org_id}/statement"): Row(
        OWN_OR_BOOKKEEPER, params=OWN, query="?format=csv", action="ledger.statement.read", on="ledger_own",
        also=(Row(params=OTHER, query="?format=xlsx", action="ledger.statement.read", on="ledger_other"),)),
    ("GET", "/api/v1/ledger/accounts"): Row(BOOKKEEPERS, action="ledger.books.read"),
    ("GET", "/api/v1/ledger/accounts/{account_id}/statement"): Row(
        params=lambda c: {"account_id": c["ledger_other_account"]}, action="ledger.statement.read",
        on="ledger_other"),
    ("POST", "/api/v1/ledger/deposits"): Row(OPERATOR, body=MOVE, action="ledger.deposit"),
    ("POST", "/api/v1/ledger/withdrawals"): Row(OPERATOR, body=MOVE, action="ledger.withdraw"),
    ("GET", "/api/v1/ledger/trial-balance"): Row(BOOKKEEPERS, query="?date=2026-11-30", action="ledger.books.read"),
    ("GET", "/api/v1/ledger/fees"): Row(BOOKKEEPERS, action="ledger.books.read"),
    # portal pages
    ("GET", "/wallet"): Row(OWN_OR_BOOKKEEPER, action="ledger.statement.read", on="ledger_own"),
    ("GET", "/wallet/{org_id:int}"): Row(params=OTHER, action="ledger.statement.read", on="ledger_other"),
    ("GET", "/operator/books"): Row(BOOKKEEPERS, action="ledger.books.read"),
    ("POST", "/operator/books/{movement}"): Row(
        OPERATOR, params=lambda c: {"movement": "deposit"},
        body=lambda c: {"org_id": str(c["ledger_other_org"]), "amount": "1.00", "bank_reference": "P-1",
                        "form_key": f"matrix-{c['role']}"}, action="ledger.deposit"),
}


def setup(ctx: dict[str, Any], db: Any, make: Any, actor: Actor | None, env: dict[str, Any]) -> None:
    other = make.org()
    ctx["ledger_other_org"] = other.id
    ctx["ledger_own_org"] = actor.org_id if actor is not None and actor.org_id else other.id
    operator = make.actor(make.operator())
    service.deposit(db, operator, org_id=other.id, amount_fen=10_000, bank_reference=f"MATRIX-{ctx['role']}")
    ctx["ledger_other_account"] = service.wallet_of(db, other.id).id
    ctx.setdefault("res", {}).update(ledger_own=Resource(org_id=ctx["ledger_own_org"]),
                                     ledger_other=Resource(org_id=other.id))
