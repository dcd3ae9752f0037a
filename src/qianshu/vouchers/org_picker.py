"""Naming an organisation in a voucher administrator's form: its USCC, or part of its name (Chinese or
English) or of its USCC.

Without JavaScript the form is its own search step: text that names one approved organisation is
that organisation; text that matches several comes back beside its field with the matches as radio
buttons (``<name>_pick``, the USCC), and the one picked wins when the form is sent again. With
``vouchers/static/org_picker.js`` the field's ``<datalist>`` fills from ``search`` as the
administrator types, and picking an entry puts its USCC in the field.

What the search shows is public (name, English name, USCC, type) and only of approved
organisations; only a programme's administrator may search (``vouchers.programme.manage``).
Typed text is taken literally (``%``, ``_``, quotes match themselves) and is at most
``MAX_TYPED`` characters; the portal's search reads its first ``MAX_QUERY``, the API's (``lookup``)
refuses longer text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.core import i18n
from qianshu.core.actor import Actor
from qianshu.core.errors import InvalidInput
from qianshu.core.identifiers import validate_uscc
from qianshu.vouchers import service

MAX_TYPED = 200  # a form's field: longer is refused beside it
MAX_QUERY = 100  # the search endpoint: longer is cut
SHOWN = 20  # matches listed at most
USCC_LIKE = re.compile(r"[0-9A-Za-z]{18}")


@dataclass(frozen=True)
class Candidate:
    """An organisation as a picker shows it: public facts only."""

    id: int
    name: str
    name_en: str
    uscc: str
    org_type: str

    def json(self) -> dict[str, Any]:
        return {"name": self.name, "name_en": self.name_en, "uscc": self.uscc, "org_type": self.org_type}

    def label(self, lang: str) -> str:
        """Its name in ``lang`` and its type, as a list entry shows it."""
        return (f"{self.name if lang == 'zh' or not self.name_en else self.name_en} · "
                f"{i18n.label(self.org_type, 'organisation type', lang)}")


def _candidates(db: Session, text: str, limit: int) -> list[Candidate]:
    return [Candidate(o.id, o.name, o.name_en or "", o.uscc, o.org_type)
            for o in accounts.find_organisations(db, text, limit)]


def search(db: Session, actor: Actor, programme_id: int, text: str) -> list[Candidate]:
    """Approved organisations whose name or USCC contains ``text`` (for the programme's administrator)."""
    service.managed_programme(db, actor, programme_id)
    text = text.strip()[:MAX_QUERY]
    return _candidates(db, text, SHOWN) if text else []


def lookup(db: Session, actor: Actor, programme_id: int, text: str) -> list[Candidate]:
    """The API's search (``GET /api/v1/vouchers/programmes/{id}/organisations``): as ``search``, but
    text over ``MAX_TYPED`` characters is refused (422 naming ``q``), not cut, and all of it is read.
    Who may is checked first, so the refusal tells a stranger nothing."""
    service.managed_programme(db, actor, programme_id)
    if len(text) > MAX_TYPED:
        raise InvalidInput("Type at most {count} characters.", field="q", code="too_long", count=MAX_TYPED)
    text = text.strip()
    return _candidates(db, text, SHOWN) if text else []


class Picker:
    """Turns the text of a form's organisation fields into organisations, keeping, per field, the
    matches to choose among when the text named several (for the page shown again)."""

    def __init__(self, db: Session, typed: dict[str, Any]) -> None:
        self.db, self.typed = db, typed
        self.choices: dict[str, list[Candidate]] = {}

    def __call__(self, name: str) -> int:
        picked = str(self.typed.get(f"{name}_pick", "")).strip()
        if picked:  # a radio button of the matches: its USCC, shown in the field from now on
            self.typed[name] = picked
        text = str(self.typed.get(name, "")).strip()
        if len(text) > MAX_TYPED:
            raise InvalidInput("Type at most {count} characters.", field=name, code="too_long", count=MAX_TYPED)
        if not text:
            raise InvalidInput("Type the organisation's name or USCC.", field=name, code="missing")
        if USCC_LIKE.fullmatch(text):
            uscc = validate_uscc(text, field=name)
            org = accounts.organisation_by_uscc(self.db, uscc)
            if org is None:
                raise InvalidInput("No organisation has the USCC {uscc}.", field=name, code="unknown_organisation",
                                   uscc=uscc)
            return org.id
        found = _candidates(self.db, text, SHOWN + 1)
        if not found:
            raise InvalidInput("No approved organisation's name or USCC contains \u201c{text}\u201d.", field=name,
                               code="unknown_organisation", text=text[:40])
        exact = [c for c in found if text.casefold() in (c.name.casefold(), c.name_en.casefold())]
        if len(found) == 1 or len(exact) == 1:  # a whole name names its organisation among longer ones
            return (exact or found)[0].id
        self.choices[name] = found[:SHOWN]
        if len(found) > SHOWN:
            raise InvalidInput("More than {count} organisations match: type more of the name, or pick one below.",
                               field=name, code="several_organisations", count=SHOWN)
        raise InvalidInput("{count} organisations match: pick one below.", field=name, code="several_organisations",
                           count=len(found))
