"""CLI commands of the accounts capability: ``qianshu staff create``, ``qianshu staff jurisdiction``."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import select

from qianshu.accounts.models import User
from qianshu.accounts.service import create_staff_user, ensure_exchange_operator, set_jurisdiction
from qianshu.core.actor import SYSTEM
from qianshu.core.cli_support import console, handle_errors, open_database
from qianshu.core.errors import InvalidInput, NotFound
from qianshu.core.settings import get_settings

staff = typer.Typer(help="Platform staff: operators, reviewers, auditors.", no_args_is_help=True)


@staff.command("create")
@handle_errors
def create(email: str, name: Annotated[str, typer.Option(help="Display name.")],
           role: Annotated[str, typer.Option(help="operator, reviewer or auditor.")] = "operator",
           password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)] = "",
           jurisdiction: Annotated[str, typer.Option(help="A division code the user acts within "
                                                          "(6, 9 or 12 digits).")] = "") -> None:
    """Create a staff user of the exchange operator organisation."""
    if len(password) < 10:
        raise InvalidInput("{field} is too short (at least {min} characters).", field="password", min=10)
    settings = get_settings()
    with open_database(settings) as database, database.unit_of_work() as db:
        org = ensure_exchange_operator(db, settings, settings.exchange_uscc)
        user = create_staff_user(db, SYSTEM, org, email, name, password, role)
        if jurisdiction:
            set_jurisdiction(db, SYSTEM, user.id, jurisdiction)
    console.print(f"[green]✓[/] {role} {user.email} created")


@staff.command("jurisdiction")
@handle_errors
def jurisdiction_command(email: str, code: Annotated[str, typer.Argument(
        help="A GB/T 2260 code (province, prefecture, county) or a 9-digit township or 12-digit village code; "
             "'none' clears it.")]) -> None:
    """Set (or clear) the jurisdiction of any user: the division they act within."""
    settings = get_settings()
    with open_database(settings) as database, database.unit_of_work() as db:
        user_id = db.scalar(select(User.id).where(User.email == email.strip().lower()))
        if user_id is None:
            raise NotFound("User not found.", code="user_not_found")
        user = set_jurisdiction(db, SYSTEM, user_id, None if code.strip().lower() == "none" else code)
    console.print(f"[green]✓[/] {user.email}: {user.jurisdiction or '-'}")


def install(root: typer.Typer) -> None:
    root.add_typer(staff, name="staff")
