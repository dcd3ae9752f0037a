"""CLI commands of the accounts capability: ``qianshu staff create|list|jurisdiction``, ``qianshu jobs list``.

Imports of the services stay inside the commands: ``qianshu --help`` imports this module.
"""

from __future__ import annotations

from typing import Annotated

import typer

from qianshu.core.cli_support import DataDir, JsonOutput, console, open_database, print_json, settings_for

staff = typer.Typer(help="Platform staff: operators, reviewers, auditors.", no_args_is_help=True)
jobs_app = typer.Typer(help="Background jobs: what is queued, running or failed.", no_args_is_help=True)


@staff.command("create")
def create(email: str, name: Annotated[str, typer.Option(help="Display name.")],
           role: Annotated[str, typer.Option(help="operator, reviewer or auditor.")] = "operator",
           password: Annotated[str | None, typer.Option(help="Asked for when not given.")] = None,
           jurisdiction: Annotated[str, typer.Option(help="A division code the user acts within "
                                                          "(6, 9 or 12 digits).")] = "",
           data_dir: DataDir = None, as_json: JsonOutput = False) -> None:
    """Create a staff user of the exchange operator organisation."""
    from qianshu.accounts import passwords
    from qianshu.accounts.service import create_staff_user, ensure_exchange_operator
    from qianshu.core.actor import SYSTEM
    from qianshu.core.errors import InvalidInput

    settings = settings_for(data_dir)  # before the password is asked for: a wrong folder fails at once
    passwords.configure(settings)  # the operator's hashing parameters
    if password is None:
        password = str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
    if len(password) < 10:
        raise InvalidInput("{field} is too short (at least {min} characters).", field="password", min=10)
    with open_database(settings) as database, database.unit_of_work() as db:
        org = ensure_exchange_operator(db, settings, settings.exchange_uscc)
        user = create_staff_user(db, SYSTEM, org, email, name, password, role)
        if jurisdiction:
            from qianshu.accounts.service import set_jurisdiction

            set_jurisdiction(db, SYSTEM, user.id, jurisdiction)
        created = {"id": user.id, "email": user.email, "name": user.display_name, "role": user.staff_role}
    if as_json:
        print_json(created)
    else:
        console.print(f"[green]✓[/] {role} {created['email']} created")


@staff.command("list")
def list_staff(data_dir: DataDir = None, as_json: JsonOutput = False) -> None:
    """List the exchange operator's staff users and their roles."""
    from qianshu.accounts.service import ensure_exchange_operator, list_users
    from qianshu.core.actor import SYSTEM

    settings = settings_for(data_dir)
    with open_database(settings) as database, database.unit_of_work(write=False) as db:
        org = ensure_exchange_operator(db, settings, settings.exchange_uscc)
        users = [{"id": u.id, "email": u.email, "name": u.display_name, "role": u.staff_role,
                  "active": u.is_active,
                  "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None}
                 for u in list_users(db, SYSTEM, org.id) if u.staff_role]
    if as_json:
        print_json(users)
        return
    for u in users:
        state = "" if u["active"] else "  (inactive / 已停用)"
        console.print(f"{u['id']:>5}  {u['role']:<9} {u['email']}  {u['name']}{state}", highlight=False)


@jobs_app.command("list")
def list_jobs(status: Annotated[str, typer.Option(help="queued, running or failed (default: all three).")] = "",
              lang: Annotated[str, typer.Option(help="Language of the errors: zh or en.")] = "zh",
              data_dir: DataDir = None, as_json: JsonOutput = False) -> None:
    """List queued, running and failed background jobs, newest first (as /operator/jobs shows them)."""
    from dataclasses import asdict

    from qianshu.accounts import job_views
    from qianshu.core.actor import SYSTEM

    settings = settings_for(data_dir)
    with open_database(settings) as database, database.unit_of_work(write=False) as db:
        views = job_views.list_jobs(db, SYSTEM, "en" if lang == "en" else "zh", status)
    if as_json:
        print_json([asdict(v) for v in views])
        return
    for v in views:
        line = f"{v.id:>6}  {v.status:<8} {v.kind:<24} {v.progress:>4.0%} {v.stage}"
        console.print(line + (f"  {v.error}" if v.error else ""), highlight=False)


@staff.command("jurisdiction")
def jurisdiction_command(email: str, code: Annotated[str, typer.Argument(
        help="A GB/T 2260 code (province, prefecture, county) or a 9-digit township or 12-digit village code; "
             "'none' clears it.")], data_dir: DataDir = None) -> None:
    """Set (or clear) the jurisdiction of any user: the division they act within."""
    from sqlalchemy import select

    from qianshu.accounts.models import User
    from qianshu.accounts.service import set_jurisdiction
    from qianshu.core.actor import SYSTEM
    from qianshu.core.errors import NotFound

    settings = settings_for(data_dir)
    with open_database(settings) as database, database.unit_of_work() as db:
        user_id = db.scalar(select(User.id).where(User.email == email.strip().lower()))
        if user_id is None:
            raise NotFound("User not found.", code="user_not_found")
        user = set_jurisdiction(db, SYSTEM, user_id, None if code.strip().lower() == "none" else code)
        shown = (user.email, user.jurisdiction or "-")
    console.print(f"[green]✓[/] {shown[0]}: {shown[1]}")


def install(root: typer.Typer) -> None:
    root.add_typer(staff, name="staff")
    root.add_typer(jobs_app, name="jobs")
