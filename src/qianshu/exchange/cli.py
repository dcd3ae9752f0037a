"""``qianshu exchange``: the exchange's upkeep for whoever runs the installation. Today one command,
``backfill-transfer-leaves``: the public-log leaf of each asset transfer by forced sale recorded
before migration 0039 (docs/exchange.md, *Asset transfers by forced sale*).

Imports of the services stay inside the commands: ``qianshu --help`` imports this module.
"""

from __future__ import annotations

import typer

from qianshu.core.cli_support import DataDir, JsonOutput, console, open_database, print_json, settings_for

exchange_app = typer.Typer(name="exchange", help="The exchange's contracts: upkeep after an upgrade.",
                           no_args_is_help=True)


def install(root: typer.Typer) -> None:
    root.add_typer(exchange_app)


@exchange_app.command("backfill-transfer-leaves")
def backfill_transfer_leaves(data_dir: DataDir = None, as_json: JsonOutput = False) -> None:
    """Give each asset transfer by forced sale recorded before migration 0039 its public-log leaf
    (exchange.asset_transferred, as closing a sale writes it now). A second run, or one beside it,
    writes nothing again."""
    from qianshu.exchange import jobs

    settings = settings_for(data_dir)
    with open_database(settings) as database:
        logged = jobs.backfill_transfer_leaves(database, settings)
    if as_json:
        print_json({"appended": [{"contract_id": t.contract_id, "number": t.number, "log_index": t.log_index}
                                 for t in logged]})
        return
    for t in logged:
        console.print(f"  {t.number} → log leaf {t.log_index} / 公共日志叶子 {t.log_index}")
    console.print(f"[green]✓[/] {len(logged)} leaf(s) appended / 已补写 {len(logged)} 个公共日志叶子"
                  if logged else "[green]✓[/] every asset transfer has its leaf / 所有资产转让均已记入公共日志")
