"""CLI commands of the accounts capability: ``qianshu staff create``."""

from __future__ import annotations

from typing import Annotated

import typer

from qianshu.accounts.service import create_staff_user, ensure_exchange_operator
from qianshu.core.actor import SYSTEM
from qianshu.core.cli_support import console, handle_errors, open_database
from qianshu.core.errors import InvalidInput
from qianshu.core.settings import get_settings

staff = typer.Typer(help="Platform staff: operators, reviewers, auditors.", no_args_is_help=True)


@staff.command("create")
@handle_errors
def create(email: str, name: Annotated[str, typer.Option(help="Display name.")],
           role: Annotated[str, typer.Option(help="operator, reviewer or auditor.")] = "operator",
           password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)] = "") -> None:
    """Create a staff user of the exchange operator organisation."""
    if len(password) < 10:
        raise InvalidInput("{field} is too short (at least {min} characters).", field="password", min=10)
    settings = get_settings()
    with open_database(settings) as database, database.unit_of_work() as db:
        org = ensure_exchange_operator(db, settings, settings.exchange_uscc)
        user = create_staff_user(db, SYSTEM, org, email, name, password, role)
    console.print(f"[green]✓[/] {role} {user.email} created")


def install(root: typer.Typer) -> None:
    root.add_typer(staff, name="staff")
