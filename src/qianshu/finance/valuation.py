"""Valuation worksheets of certified data assets, signed by appraiser organisations.

An appraiser (an approved service provider, 第三方专业服务机构) starts a worksheet over a valid
certificate; it is prefilled with the information attributes the China Appraisal Society's
guidance requires, taken from the registration's profile. Every change of a figure recomputes
the three approaches on the server (``worksheet.py``); the concluded value is the approach the
appraiser chooses, and a **reasonableness check** flags it when it lies further than
``[finance] valuation_tolerance_bp`` from the market approach.

Signing freezes the worksheet: its canonical JSON document is signed with the appraiser
organisation's **own** Ed25519 key (made on first use, kept encrypted in
``finance_appraiser_keys`` under a password derived from the deployment's ``secret_key``; never
the exchange's key), appended to the public log (``finance.valuation.signed``), and attached to
the registration as an appraisal report through the registry's service. A pledge's
loan-to-value is then computed on the asset's latest signed valuation.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qianshu.accounts import service as accounts
from qianshu.core import audit, inbox, policy
from qianshu.core.actor import Actor
from qianshu.core.canonical import canonical_json
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.i18n import Label
from qianshu.core.settings import Settings
from qianshu.core.signing import Ed25519Signer, Signer, load_public_key, sign_document, verify_document
from qianshu.core.timeutil import utcnow
from qianshu.exchange import trades as exchange_trades
from qianshu.finance import schemas, worksheet
from qianshu.finance.models import AppraiserKey, Valuation
from qianshu.finance.permissions import valuation_resource
from qianshu.finance.service import CAPABILITY, normalise_number, open_pledges_of, registration_standing
from qianshu.finance.settings import FinanceSettings
from qianshu.registry import review
from qianshu.registry import schemas as registry_schemas
from qianshu.registry import service as registry
from qianshu.translog import service as log

# --- the appraiser's own key ---------------------------------------------------------------------


def _key_password(settings: Settings, org_id: int) -> bytes:
    """The password the organisation's private key is encrypted with: derived from the
    deployment's secret, so the database alone cannot sign (rotate the secret, re-key)."""
    return hmac.new(settings.secret_key.encode(), f"qianshu appraiser key {org_id}".encode(),
                    hashlib.sha256).hexdigest().encode()


def appraiser_signer(db: Session, settings: Settings, org_id: int) -> Ed25519Signer:
    """The organisation's signing key, made on first use (a concurrent maker's key is taken instead)."""
    row = db.get(AppraiserKey, org_id)
    if row is None:
        key = Ed25519PrivateKey.generate()
        signer = Ed25519Signer(key)
        encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.BestAvailableEncryption(_key_password(settings, org_id)))
        try:
            with db.begin_nested():
                db.add(AppraiserKey(org_id=org_id, key_id=signer.key_id, private_key_pem=encrypted.decode(),
                                    public_key_pem=signer.public_key_pem().decode()))
        except IntegrityError:
            pass
        row = db.get_one(AppraiserKey, org_id, populate_existing=True)
    loaded = serialization.load_pem_private_key(row.private_key_pem.encode(), password=_key_password(settings, org_id))
    if not isinstance(loaded, Ed25519PrivateKey):  # pragma: no cover - only Ed25519 keys are made
        raise RuntimeError("not an Ed25519 key")
    return Ed25519Signer(loaded)


def appraiser_public_key(db: Session, org_id: int) -> AppraiserKey:
    row = db.get(AppraiserKey, org_id)
    if row is None:
        raise NotFound("The organisation {id} has no appraiser key.", id=org_id)
    return row


# --- worksheets ----------------------------------------------------------------------------------


def information_attributes(db: Session, registration_id: int) -> dict[str, Any]:
    """What the guidance asks a report to record of the data, from the registration's profile."""
    reg = registry.load_registration(db, registration_id)
    columns = registry.column_profiles(db, registration_id)
    period = ""
    if reg.time_coverage_start or reg.time_coverage_end:
        period = f"{reg.time_coverage_start or ''} – {reg.time_coverage_end or ''}"
    return {
        "name_zh": reg.title_zh, "name_en": reg.title_en,
        "structure": f"{reg.row_count or 0} × {reg.column_count or len(columns)} (Parquet)",
        "dictionary": [{"name": c.name, "type": c.inferred_type} for c in columns],
        "scale_rows": reg.row_count or 0, "scale_bytes": reg.parquet_size or 0,
        "period": period, "frequency": reg.update_frequency, "storage": f"sha256:{reg.parquet_sha256 or ''}",
        "industry_code": reg.industry_code, "source": reg.source,
    }


def _resource(v: Valuation, holder_org_id: int) -> policy.Resource:
    return valuation_resource(v.appraiser_org_id, holder_org_id, v.status == "signed")


def start_valuation(db: Session, actor: Actor, data: schemas.ValuationStart) -> Valuation:
    policy.require(actor, "finance.valuation.prepare")
    number = normalise_number(data.certificate_number, "certificate_number")
    reg, status = registration_standing(db, number)
    if status != "valid":
        raise Conflict("The certificate {number} is {status}; only a valid certificate can be valued.",
                       field="certificate_number", code="not_valuable", number=number,
                       status=Label("certificate standing", status))
    valuation = Valuation(registration_id=reg.id, certificate_number=number, appraiser_org_id=actor.org_id,
                          attributes=information_attributes(db, reg.id), inputs={}, results={},
                          created_by=actor.user_id)
    db.add(valuation)
    db.flush()
    audit.record(db, actor, "finance.valuation.started", target_type="valuation", target_id=valuation.id,
                 target_org_id=actor.org_id)
    return valuation


def get_valuation(db: Session, actor: Actor, valuation_id: int) -> Valuation:
    valuation = db.get(Valuation, valuation_id)
    missing = NotFound("Valuation {id} does not exist.", id=valuation_id)
    if valuation is None:
        raise missing
    holder = registry.load_registration(db, valuation.registration_id).holder_org_id
    policy.require(actor, "finance.valuation.read", _resource(valuation, holder), hidden=missing)
    return valuation


def editable(db: Session, actor: Actor, valuation_id: int) -> Valuation:
    valuation = get_valuation(db, actor, valuation_id)
    holder = registry.load_registration(db, valuation.registration_id).holder_org_id
    policy.require(actor, "finance.valuation.sign", _resource(valuation, holder))
    if valuation.status != "draft":
        raise Conflict("The valuation is signed; it cannot be changed.", field="status", code="valuation_signed")
    return valuation


def comparables(db: Session, settings: Settings, valuation: Valuation) -> list[worksheet.Comparable]:
    """Settled contracts of the exchange over products of the asset's industry (not the asset's own)."""
    limit = settings.section(FinanceSettings).market_comparables
    trades = exchange_trades.settled_trades(db, valuation.attributes.get("industry_code", ""), limit + 5)
    return [worksheet.Comparable(t.number, t.title_zh or t.title_en, t.industry_code, t.price_fen,
                                 t.settled_at.date().isoformat())
            for t in trades if t.registration_id != valuation.registration_id][:limit]


def compute(settings: Settings, data: schemas.ValuationIn, found: list[worksheet.Comparable]) -> dict[str, Any]:
    """Every approach's steps, the concluded value and the reasonableness check."""
    if len(data.incomes_fen) > data.life_years:
        raise InvalidInput("The forecast has more years ({count}) than the economic life.", field="incomes_fen",
                           count=len(data.incomes_fen))
    cost = worksheet.cost_approach(data.model_dump())
    income = worksheet.income_approach(data.incomes_fen, data.share_bp, data.discount_bp, data.life_years)
    factors = {"scale_bp": data.scale_bp, "quality_bp": data.market_quality_bp, "timeliness_bp": data.timeliness_bp,
               "supply_demand_bp": data.supply_demand_bp, "rights_bp": data.rights_bp}
    market = worksheet.market_approach(found, factors, data.licences_per_year, data.discount_bp, data.life_years)
    approaches = {"cost": cost, "income": income, "market": market}
    value = approaches[data.method].value_fen
    if value is None:
        raise InvalidInput("The market approach has no comparable settled contracts; conclude on another approach.",
                           field="method")
    deviation = worksheet.deviation_bp(value, market.value_fen)
    tolerance = settings.section(FinanceSettings).valuation_tolerance_bp
    return {"approaches": {k: a.as_dict() for k, a in approaches.items()}, "value_fen": value,
            "market_fen": market.value_fen, "deviation_bp": deviation,
            "flagged": deviation is not None and deviation > tolerance, "tolerance_bp": tolerance,
            # what the market approach took, by name (the worksheet, the API and the signed report)
            "market_basis": factors | {"licences_per_year": data.licences_per_year, "discount_bp": data.discount_bp,
                                       "life_years": data.life_years,
                                       "annuity_factor": round(float(worksheet.annuity_factor(
                                           data.discount_bp, data.life_years)), 6)},
            "comparables": [c.__dict__ for c in found]}


def update_valuation(db: Session, actor: Actor, settings: Settings, valuation_id: int,
                     data: schemas.ValuationIn) -> Valuation:
    """Store the figures and recompute every approach (the worksheet shows each step)."""
    valuation = editable(db, actor, valuation_id)
    results = compute(settings, data, comparables(db, settings, valuation))
    valuation.inputs = data.model_dump()
    valuation.results = results
    valuation.method = data.method
    valuation.value_fen, valuation.market_fen = results["value_fen"], results["market_fen"]
    valuation.deviation_bp, valuation.flagged = results["deviation_bp"], results["flagged"]
    valuation.updated_at = utcnow()
    db.flush()
    return valuation


def signed_document(db: Session, valuation: Valuation, key_id: str) -> dict[str, Any]:
    appraiser = accounts.organisation_by_id(db, valuation.appraiser_org_id)
    return {"type": "qianshu.valuation", "version": 1, "valuation_id": valuation.id,
            "certificate_number": valuation.certificate_number, "registration_id": valuation.registration_id,
            "appraiser": {"uscc": appraiser.uscc, "name": appraiser.name}, "key_id": key_id,
            "attributes": valuation.attributes, "inputs": valuation.inputs, "results": valuation.results,
            "method": valuation.method, "value_fen": valuation.value_fen,
            "signed_at": utcnow().isoformat(timespec="seconds")}


def sign_valuation(db: Session, actor: Actor, settings: Settings, exchange_signer: Signer,
                   valuation_id: int) -> Valuation:
    """Sign with the appraiser organisation's key, log, and attach to the registration."""
    valuation = editable(db, actor, valuation_id)
    if valuation.value_fen is None:
        raise InvalidInput("Fill in the worksheet before signing it.", field="acquisition_fen",
                           code="valuation_incomplete")
    signer = appraiser_signer(db, settings, valuation.appraiser_org_id)
    document = signed_document(db, valuation, signer.key_id)
    valuation.document, valuation.signature, valuation.key_id = document, sign_document(signer, document), signer.key_id
    valuation.status, valuation.signed_by, valuation.signed_at = "signed", actor.user_id, utcnow()
    digest = hashlib.sha256(canonical_json(document)).hexdigest()
    entry = log.append_event(db, "finance.valuation.signed", {
        "valuation_id": valuation.id, "number": valuation.certificate_number,
        "appraiser_uscc": document["appraiser"]["uscc"], "value_fen": valuation.value_fen, "method": valuation.method,
        "document_sha256": digest, "key_id": signer.key_id, "signature": valuation.signature})
    valuation.log_index, valuation.leaf_hash = entry.index, entry.leaf_hash
    report = review.attach_report(db, actor, exchange_signer, valuation.registration_id, registry_schemas.ReportIn(
        kind="appraisal", title=f"Valuation {valuation.id} / 评估 {valuation.id}",
        conclusion=f"{valuation.value_fen / 100:.2f} CNY ({valuation.method}); sha256 {digest}"),
        document=(digest, f"valuation-{valuation.id}.json"))
    valuation.report_id = report.id
    audit.record(db, actor, "finance.valuation.signed", target_type="valuation", target_id=valuation.id,
                 target_org_id=actor.org_id)
    db.flush()
    log.sign_tree_head(db, exchange_signer)
    holder = registry.load_registration(db, valuation.registration_id).holder_org_id
    inbox.notify(db, CAPABILITY, "An appraiser signed a valuation of your certificate {number}.", org_id=holder,
                 subject=("valuation", valuation.id), link=f"/finance/valuations/{valuation.id}",
                 number=valuation.certificate_number)
    alert_pledgees(db, valuation)
    return valuation


BELOW_LIMIT = ("The latest signed valuation of {number} ({value} yuan) puts the loan-to-value of its open pledges "
               "at {ltv} %, above your limit of {limit} %.")


def alert_pledgees(db: Session, valuation: Valuation) -> int:
    """Each bank with an open pledge over the asset is told when the new value no longer covers
    the asset's open pledges within its loan-to-value limit (the portfolio's alert)."""
    pledges = open_pledges_of(db, valuation.registration_id)
    secured = sum(p.secured_fen for p in pledges)
    value = valuation.value_fen or 0
    told = 0
    for pledge in pledges:
        if value and secured * 10_000 <= value * pledge.ltv_limit_bp:
            continue
        inbox.notify(db, CAPABILITY, BELOW_LIMIT, org_id=pledge.pledgee_org_id, subject=("pledge", pledge.id),
                     link=f"/finance/valuations/{valuation.id}", number=valuation.certificate_number,
                     value=f"{value / 100:,.2f}", ltv=f"{secured * 100 / value:.1f}" if value else "∞",
                     limit=f"{pledge.ltv_limit_bp / 100:g}")
        told += 1
    return told


def verify_valuation(db: Session, valuation: Valuation) -> bool:
    """The signature checks against the appraiser's public key (and nothing else)."""
    key = appraiser_public_key(db, valuation.appraiser_org_id)
    return verify_document(load_public_key(key.public_key_pem.encode()), valuation.document, valuation.signature)


def valuations_of(db: Session, actor: Actor) -> list[Valuation]:
    """The appraiser organisation's worksheets, newest first."""
    policy.require(actor, "finance.valuation.prepare")
    return list(db.scalars(select(Valuation).where(Valuation.appraiser_org_id == actor.org_id)
                           .order_by(Valuation.id.desc()).limit(200)))


def valuation_json(db: Session, v: Valuation) -> dict[str, Any]:
    key = db.get(AppraiserKey, v.appraiser_org_id) if v.status == "signed" else None
    return {"id": v.id, "certificate_number": v.certificate_number, "status": v.status,
            "appraiser_org_id": v.appraiser_org_id, "attributes": v.attributes, "inputs": v.inputs,
            "results": v.results, "method": v.method, "value_fen": v.value_fen, "market_fen": v.market_fen,
            "deviation_bp": v.deviation_bp, "flagged": v.flagged,
            "signed_at": v.signed_at.isoformat() if v.signed_at else None, "document": v.document or None,
            "signature": v.signature or None, "key_id": v.key_id or None,
            "public_key_pem": key.public_key_pem if key else None, "log_index": v.log_index,
            "leaf_hash": v.leaf_hash or None, "report_id": v.report_id}
