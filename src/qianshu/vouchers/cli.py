"""``qianshu vouchers``: the voucher programmes' money, for whoever runs the installation: list the
programmes, one programme's budget, lapse expired vouchers, return an ended programme's unspent
budget, export a programme's vouchers or orders as CSV.

Imports of the services stay inside the commands: ``qianshu --help`` imports this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from qianshu.core.cli_support import DataDir, JsonOutput, console, open_database, print_json, settings_for

vouchers_app = typer.Typer(name="vouchers", help="Compute-voucher programmes: budgets, expiry, returns, exports.",
                           no_args_is_help=True)
ProgrammeId = Annotated[int, typer.Argument(help="The programme's id (see `qianshu vouchers programmes`).", min=1)]


def install(root: typer.Typer) -> None:
    root.add_typer(vouchers_app)


def _yuan(fen: int) -> str:
    return f"{fen / 100:,.2f}"


def _print_budget(row: dict[str, Any]) -> None:
    closed = f"closed {row['closed_at'][:10]} / 已结项" if row["closed_at"] else "open / 进行中"
    console.print(f"#{row['id']} {row['name']} ({row['kind']}, {row['starts_on']} – {row['ends_on']}, {closed})")
    for key, zh in (("budget_fen", "预算"), ("committed_fen", "已承诺"), ("reimbursed_fen", "已兑付"),
                    ("returned_fen", "已退回"), ("remaining_fen", "可发放"), ("owed_fen", "待兑付"),
                    ("account_balance_fen", "账户余额")):
        console.print(f"  {key.removesuffix('_fen'):<16} {zh:<6} ¥{_yuan(row[key]):>18}")


@vouchers_app.command("programmes")
def programmes(data_dir: DataDir = None, as_json: JsonOutput = False) -> None:
    """Every programme with its budget, what is committed, reimbursed, returned and left."""
    from qianshu.vouchers import reports

    settings = settings_for(data_dir)
    with open_database(settings) as database, database.unit_of_work(write=False) as db:
        rows = reports.all_budgets(db)
    if as_json:
        print_json({"programmes": rows})
        return
    if not rows:
        console.print("no programmes / 暂无项目")
    for row in rows:
        state = "closed/已结项" if row["closed_at"] else "open/进行中"
        console.print(f"#{row['id']:<4} {row['kind']:<8} {row['starts_on']} – {row['ends_on']}  "
                      f"budget ¥{_yuan(row['budget_fen'])}  left ¥{_yuan(row['remaining_fen'])}  {state}  "
                      f"{row['name']}")


@vouchers_app.command("budget")
def budget(programme_id: ProgrammeId, data_dir: DataDir = None, as_json: JsonOutput = False) -> None:
    """One programme's money: budget, committed, reimbursed, returned, left to issue, still owed,
    and its ledger account's balance."""
    from qianshu.vouchers import reports

    settings = settings_for(data_dir)
    with open_database(settings) as database, database.unit_of_work(write=False) as db:
        row = reports.one_budget(db, programme_id)
    if as_json:
        print_json(row)
    else:
        _print_budget(row)


@vouchers_app.command("expire")
def expire(programme_id: Annotated[int | None, typer.Option("--programme", min=1,
                                                            help="Only this programme.")] = None,
           data_dir: DataDir = None, as_json: JsonOutput = False) -> None:
    """Return the unspent value of expired vouchers to their programmes' budgets (the hourly task
    `vouchers.lapse_expired` does it too)."""
    from qianshu.vouchers import service

    settings = settings_for(data_dir)
    with open_database(settings) as database, database.unit_of_work() as db:
        count = service.lapse_expired(db, programme_id)
    if as_json:
        print_json({"lapsed_vouchers": count})
    else:
        console.print(f"[green]✓[/] {count} expired voucher(s) lapsed / {count} 张过期算力券余额已退回项目预算")


@vouchers_app.command("return")
def return_unspent(programme_id: ProgrammeId, data_dir: DataDir = None, as_json: JsonOutput = False) -> None:
    """Close an ended programme: its unspent budget goes back to the administrator's wallet (the
    hourly task `vouchers.close_ended` does it too; each fen goes back once)."""
    from qianshu.core.actor import SYSTEM
    from qianshu.vouchers import closing, reports

    settings = settings_for(data_dir)
    with open_database(settings) as database, database.unit_of_work() as db:
        amount = closing.return_unspent(db, SYSTEM, programme_id)
        row = reports.one_budget(db, programme_id)
    if as_json:
        print_json({"returned_fen": amount, "programme": row})
        return
    console.print(f"[green]✓[/] returned ¥{_yuan(amount)} / 已退回 ¥{_yuan(amount)}")
    _print_budget(row)


@vouchers_app.command("export")
def export(programme_id: ProgrammeId,
           out: Annotated[Path, typer.Argument(dir_okay=False, writable=True, help="The CSV file to write.")],
           what: Annotated[str, typer.Option("--what", help="vouchers or orders (with their claims).")] = "orders",
           data_dir: DataDir = None, as_json: JsonOutput = False) -> None:
    """A programme's vouchers or orders as CSV (UTF-8 with a byte-order mark, for Excel)."""
    from qianshu.vouchers import reports

    settings = settings_for(data_dir)
    with open_database(settings) as database, database.unit_of_work(write=False) as db:
        text, rows = reports.export_csv(db, programme_id, what)
    out.write_text(text, encoding="utf-8")
    if as_json:
        print_json({"file": str(out), "rows": rows})
    else:
        console.print(f"[green]✓[/] {rows} row(s) → {out} / 已导出 {rows} 行")
