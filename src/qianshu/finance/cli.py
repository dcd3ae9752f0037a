"""CLI of finance: ``qianshu certificate status NUMBER`` (valid, revoked, encumbered).

Imports of the services stay inside the command: ``qianshu --help`` imports this module.
"""

from __future__ import annotations

from typing import Annotated

import typer

from qianshu.core.cli_support import DataDir, JsonOutput, console, open_database, print_json, settings_for


def status(number: Annotated[str, typer.Argument(help="QS-DR-YYYY-NNNNNN")],
           data_dir: DataDir = None, as_json: JsonOutput = False) -> None:
    """Whether a certificate is valid, revoked or expired, and whether its asset is pledged."""
    from qianshu.core.actor import Actor
    from qianshu.core.i18n import label, ngettext, translate
    from qianshu.finance import service

    settings = settings_for(data_dir)
    with open_database(settings) as database, database.unit_of_work(write=False) as db:
        found = service.standing(db, Actor(user_id=None, via="cli"), number)
        result = service.standing_json(found)
    if as_json:
        print_json(result)
        return
    lang = settings.default_language
    console.print(f"{found.number}: {label(found.status, 'certificate standing', lang)}")
    console.print(ngettext("Encumbered: {count} open pledge", "Encumbered: {count} open pledges", found.open_pledges,
                           lang, count=found.open_pledges)
                  if found.encumbered else translate("Not encumbered", lang))


def install(root: typer.Typer) -> None:
    # ``certificate`` is the registry's command group; the status of a certificate joins it.
    from qianshu.registry.cli import certificate_app

    certificate_app.command("status")(status)
