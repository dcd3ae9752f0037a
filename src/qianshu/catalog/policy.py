"""Usage policies in the spirit of W3C ODRL 2.2: built from a few terms, stored as JSON-LD,
read back and shown as plain sentences in Chinese and English.

The terms a merchant chooses (``PolicyTerms``) map onto the ODRL vocabulary:

- permitted purposes  → ``use`` permitted with a ``purpose isAnyOf [...]`` constraint
- term (days)         → an ``elapsedTime lteq P<n>D`` constraint (none: no time limit)
- territory           → a ``spatial eq <ISO 3166-2 code>`` constraint (CN-GZ Guizhou, CN mainland)
- onward transfer     → ``distribute`` permitted or prohibited
- resale              → ``sell`` permitted or prohibited
- attribution         → a duty to ``attribute`` the holder on the ``use`` permission

Purposes are Qianshu's own terms (``https://qianshu.dev/ns/purpose#``), since ODRL leaves
purpose values to profiles.

The JSON-LD ``@context`` is inline (``ODRL_CONTEXT``: the terms of the W3C ODRL 2.2 context that
these policies use, with the same definitions), so a policy reads offline. Every policy has an
absolute ``uid`` under the exchange's public address that serves it
(``/catalog/<product>/plans/<plan>/policy``); :func:`policy_document` renders a stored policy
with the addresses of today's ``public_base_url``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from qianshu.core.errors import InvalidInput
from qianshu.core.i18n import translate

ODRL = "http://www.w3.org/ns/odrl/2/"
_ID = "@id"
_VOCAB = "@vocab"
# The terms of https://www.w3.org/ns/odrl.jsonld (W3C ODRL 2.2) that our policies use, defined as
# there, plus xsd: inline, so that reading a policy needs no network.
ODRL_CONTEXT: dict[str, Any] = {
    "odrl": ODRL,
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "uid": "@id",
    "type": "@type",
    "Policy": "odrl:Policy",
    "Offer": "odrl:Offer",
    "profile": {"@type": _ID, "@id": "odrl:profile"},
    "permission": {"@type": _ID, "@id": "odrl:permission"},
    "prohibition": {"@type": _ID, "@id": "odrl:prohibition"},
    "duty": {"@type": _ID, "@id": "odrl:duty"},
    "target": {"@type": _ID, "@id": "odrl:target"},
    "assigner": {"@type": _ID, "@id": "odrl:assigner"},
    "attributedParty": {"@type": _ID, "@id": "odrl:attributedParty"},
    "action": {"@type": _VOCAB, "@id": "odrl:action"},
    "constraint": {"@type": _ID, "@id": "odrl:constraint"},
    "leftOperand": {"@type": _VOCAB, "@id": "odrl:leftOperand"},
    "operator": {"@type": _VOCAB, "@id": "odrl:operator"},
    "rightOperand": "odrl:rightOperand",
    "use": "odrl:use",
    "distribute": "odrl:distribute",
    "sell": "odrl:sell",
    "attribute": "odrl:attribute",
    "purpose": "odrl:purpose",
    "spatial": "odrl:spatial",
    "elapsedTime": "odrl:elapsedTime",
    "eq": "odrl:eq",
    "lteq": "odrl:lteq",
    "isAnyOf": "odrl:isAnyOf",
}
PURPOSE_NS = "https://qianshu.dev/ns/purpose#"
PROFILE = "https://qianshu.dev/ns/odrl-profile"
PURPOSES = {
    "research": "scientific research",
    "public_service": "public services",
    "internal_analytics": "internal analysis",
    "commercial": "commercial products and services",
    "credit_assessment": "credit assessment",
    "ai_training": "training AI models",
    "marketing": "marketing",
}
TERRITORIES = {"CN-GZ": "Guizhou Province", "CN": "mainland China"}
MAX_TERM_DAYS = 36500
_DURATION = re.compile(r"^P(\d{1,5})D$")


@dataclass(frozen=True)
class PolicyTerms:
    purposes: tuple[str, ...] = ("research", "internal_analytics")
    term_days: int | None = 365
    territory: str = "CN"
    onward_transfer: bool = False
    resale: bool = False
    attribution: bool = True
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def validated(self) -> PolicyTerms:
        unknown = [p for p in self.purposes if p not in PURPOSES]
        if unknown or not self.purposes:
            raise InvalidInput(
                "{field} must be one of: {expected}.", field="policy.purposes", expected=", ".join(PURPOSES)
            )
        if self.territory not in TERRITORIES:
            raise InvalidInput(
                "{field} must be one of: {expected}.", field="policy.territory", expected=", ".join(TERRITORIES)
            )
        if self.term_days is not None and not 1 <= self.term_days <= MAX_TERM_DAYS:
            raise InvalidInput("{field} must be at most {max}.", field="policy.term_days", max=MAX_TERM_DAYS)
        return PolicyTerms(
            tuple(dict.fromkeys(self.purposes)),
            self.term_days,
            self.territory,
            self.onward_transfer,
            self.resale,
            self.attribution,
        )


def build_odrl(terms: PolicyTerms, uid: str, target: str, assigner: str) -> dict[str, Any]:
    """The ODRL ``Offer`` for a plan, as JSON-LD."""
    terms = terms.validated()
    constraints: list[dict[str, Any]] = [
        {
            "leftOperand": "purpose",
            "operator": "isAnyOf",
            "rightOperand": [{"@id": PURPOSE_NS + p} for p in terms.purposes],
        },
        {"leftOperand": "spatial", "operator": "eq", "rightOperand": terms.territory},
    ]
    if terms.term_days is not None:
        constraints.append(
            {
                "leftOperand": "elapsedTime",
                "operator": "lteq",
                "rightOperand": {"@value": f"P{terms.term_days}D", "@type": "xsd:duration"},
            }
        )
    use: dict[str, Any] = {"target": target, "assigner": assigner, "action": "use", "constraint": constraints}
    if terms.attribution:
        use["duty"] = [{"action": "attribute", "attributedParty": assigner}]
    permissions = [use]
    prohibitions: list[dict[str, Any]] = []
    for action, allowed in (("distribute", terms.onward_transfer), ("sell", terms.resale)):
        rule = {"target": target, "assigner": assigner, "action": action}
        (permissions if allowed else prohibitions).append(rule)
    policy: dict[str, Any] = {
        "@context": ODRL_CONTEXT,
        "@type": "Offer",
        "uid": uid,
        "profile": PROFILE,
        "permission": permissions,
    }
    if prohibitions:
        policy["prohibition"] = prohibitions
    return policy


def policy_uri(base: str, listing_id: int, plan_id: int) -> str:
    return f"{base}/catalog/{listing_id}/plans/{plan_id}/policy"


def policy_document(stored: dict[str, Any], base: str, listing_id: int, plan_id: int, org_id: int) -> dict[str, Any]:
    """A plan's policy as published: its terms, with absolute addresses under ``base`` (policies
    stored before the public address was configured had relative or request-dependent ones)."""
    return build_odrl(
        terms_from_odrl(stored),
        uid=policy_uri(base, listing_id, plan_id),
        target=f"{base}/catalog/{listing_id}",
        assigner=f"{base}/organisations/{org_id}",
    )


def terms_from_odrl(policy: dict[str, Any]) -> PolicyTerms:
    """Read our terms back from a stored policy (only the shape ``build_odrl`` writes)."""
    purposes: tuple[str, ...] = ()
    term_days: int | None = None
    territory = "CN"
    attribution = False
    allowed = {r.get("action") for r in policy.get("permission", [])}
    for rule in policy.get("permission", []):
        if rule.get("action") != "use":
            continue
        attribution = any(d.get("action") == "attribute" for d in rule.get("duty", []))
        for c in rule.get("constraint", []):
            operand = c.get("rightOperand")
            if c.get("leftOperand") == "purpose" and isinstance(operand, list):
                purposes = tuple(str(p.get("@id", "")).removeprefix(PURPOSE_NS) for p in operand if isinstance(p, dict))
            elif c.get("leftOperand") == "spatial":
                territory = str(operand)
            elif c.get("leftOperand") == "elapsedTime" and isinstance(operand, dict):
                match = _DURATION.match(str(operand.get("@value", "")))
                term_days = int(match.group(1)) if match else None
    return PolicyTerms(purposes, term_days, territory, "distribute" in allowed, "sell" in allowed, attribution)


def describe(terms: PolicyTerms, lang: str) -> list[str]:
    """Plain sentences for buyers, in ``lang``."""

    def _(message: str, **params: Any) -> str:
        return translate(message, lang, **params)

    sep = "、" if lang == "zh" else ", "
    lines = [
        _("Permitted purposes: {purposes}.", purposes=sep.join(_(PURPOSES[p]) for p in terms.purposes if p in PURPOSES))
    ]
    lines.append(
        _("Use is limited to {days} days from delivery.", days=terms.term_days)
        if terms.term_days
        else _("Use is not limited in time.")
    )
    lines.append(_("Use only within {territory}.", territory=_(TERRITORIES.get(terms.territory, terms.territory))))
    lines.append(
        _("Onward transfer to third parties is allowed.")
        if terms.onward_transfer
        else _("Onward transfer to third parties is not allowed.")
    )
    lines.append(_("Resale is allowed.") if terms.resale else _("Resale is not allowed."))
    if terms.attribution:
        lines.append(_("The data holder must be credited wherever the data is used."))
    return lines
