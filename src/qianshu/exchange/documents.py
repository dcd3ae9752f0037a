"""The contract's text: a JSON document, its SHA-256 and its bilingual PDF.

What both parties sign is the RFC 8785 canonical JSON of :func:`contract_document`; its SHA-256
(``text_sha256``) is what each signature records and what the public log shows, so anyone who
holds the text can check it against the log without the log revealing the price. The PDF is a
rendering of that document, in a Chinese font embedded when the machine has one (the way the
registration certificate finds it: ``registry/certificate.py``).
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from qianshu.catalog.policy import PURPOSES, describe, terms_from_odrl
from qianshu.catalog.pricing import PLAN_KINDS
from qianshu.core.canonical import canonical_json, sha256_hex
from qianshu.core.i18n import N_, label, translate
from qianshu.core.l10n import format_datetime
from qianshu.core.money import Money
from qianshu.registry.certificate import certificate_font, draw_titled_lines

FORMAT = "qianshu-data-contract/1"
# The record of an asset transfer by forced sale (``exchange/transfers.py``): the same keys where
# they mean the same, no plan, usage policy or term; ``cause`` says why there is no acceptance.
TRANSFER_FORMAT = "qianshu-asset-transfer/1"
FORCED_SALE_CAUSE = N_("Transfer of the data asset by a forced sale on the exchange, enforcing a pledge: the "
                       "winning purchase binds both parties without their acceptance.")


def party(org: Any) -> dict[str, Any]:
    return {"name": org.name, "name_en": org.name_en or "", "uscc": org.uscc}


def _product(listing_id: int | None, title_zh: str, title_en: str, registration: Any,
             certificate: Any) -> dict[str, Any]:
    return {
        "listing_id": listing_id,
        "title": {"zh": title_zh, "en": title_en},
        "registration_number": registration.number,
        "certificate": None if certificate is None else {
            "number": certificate.number, "log_index": certificate.log_index, "leaf_hash": certificate.leaf_hash},
    }


def contract_document(*, number: str, version: int, buyer: Any, seller: Any, listing: Any, registration: Any,
                      certificate: Any, plan: Any, price_fen: int, purpose: str, scenario: str,
                      delivery_mode: str, term_days: int | None, terms: str, created_at: datetime) -> dict[str, Any]:
    """The exact contract text both parties accept (every value JSON, no floats)."""
    return {
        "format": FORMAT,
        "number": number,
        "version": version,
        "buyer": party(buyer),
        "seller": party(seller),
        "product": _product(listing.id, listing.title_zh, listing.title_en, registration, certificate),
        "plan": {"id": plan.id, "kind": plan.kind, "name": {"zh": plan.name_zh, "en": plan.name_en}},
        "price_fen": price_fen,
        "currency": "CNY",
        "purpose": purpose,
        "scenario": scenario,
        "delivery_mode": delivery_mode,
        "term_days": term_days,
        "usage_policy": plan.policy,  # the plan's ODRL policy, frozen as it was when ordered
        "terms": terms,
        "created_at": created_at.isoformat(timespec="seconds"),
    }


def transfer_document(*, number: str, buyer: Any, seller: Any, listing: Any, registration: Any,
                      certificate: Any, price_fen: int, reason: str, reference: dict[str, Any],
                      created_at: datetime) -> dict[str, Any]:
    """The text of an asset transfer by forced sale; ``reference`` names the sale (``{"kind":
    "forced_sale", "id": 7}``) so the record can be matched with the sale's log leaves."""
    return {
        "format": TRANSFER_FORMAT,
        "number": number,
        "version": 1,
        "buyer": party(buyer),
        "seller": party(seller),
        "product": _product(None if listing is None else listing.id,
                            (listing.title_zh if listing else "") or registration.title_zh,
                            (listing.title_en if listing else "") or registration.title_en, registration, certificate),
        "plan": {"id": None, "kind": "forced_sale", "name": {"zh": "", "en": ""}},
        "cause": {"kind": "forced_sale", "text": {"zh": translate(FORCED_SALE_CAUSE, "zh"),
                                                  "en": translate(FORCED_SALE_CAUSE, "en")}, **reference},
        "price_fen": price_fen,
        "currency": "CNY",
        "purpose": "asset_transfer",
        "scenario": reason,
        "delivery_mode": "transfer",
        "term_days": None,
        "usage_policy": None,
        "terms": "",
        "created_at": created_at.isoformat(timespec="seconds"),
    }


def text_sha256(document: dict[str, Any]) -> str:
    return sha256_hex(canonical_json(document))


def amended(document: dict[str, Any], changes: dict[str, Any], version: int) -> dict[str, Any]:
    """The document with an amendment's changes (price, term, terms) applied, as ``version``."""
    return {**document, **{k: v for k, v in changes.items() if k in ("price_fen", "term_days", "terms")},
            "version": version}


def _both(message: str, **params: Any) -> str:
    zh, en = translate(message, "zh", **params), translate(message, "en", **params)
    return zh if zh == en else f"{zh} / {en}"


def _name(value: dict[str, Any]) -> str:
    return str(value["name"]) + (f" / {value['name_en']}" if value.get("name_en") else "")


def contract_lines(doc: dict[str, Any], signatures: list[Any], log_leaf: tuple[int, str] | None) -> list[str]:
    """The PDF's text, bilingual: every line in Chinese, then English."""
    product = doc["product"]
    cert = product.get("certificate") or {}
    term = doc.get("term_days")
    if doc.get("cause"):
        return _transfer_lines(doc, product, cert, log_leaf)
    lines = [
        f"合同编号 Contract number: {doc['number']} (v{doc['version']})",
        f"买方 Buyer: {_name(doc['buyer'])} ({doc['buyer']['uscc']})",
        f"卖方 Seller: {_name(doc['seller'])} ({doc['seller']['uscc']})",
        f"数据产品 Product: {product['title']['zh']} / {product['title']['en']}",
        f"登记编号 Registration number: {product['registration_number'] or '—'}",
        f"登记凭证 Certificate: {cert.get('number') or '—'}"
        + (f" (公共日志 log leaf {cert.get('log_index')})" if cert.get("log_index") is not None else ""),
        f"定价方案 Plan: {_both(PLAN_KINDS.get(doc['plan']['kind'], doc['plan']['kind']))}",
        f"价格 Price: {Money(int(doc['price_fen'])).display()} (CNY)",
        f"使用目的 Purpose: {_both(PURPOSES.get(doc['purpose'], doc['purpose']))}",
        f"应用场景 Application scenario: {doc['scenario']}",
        f"交付方式 Delivery: {label(doc['delivery_mode'], 'delivery mode', 'zh')} / "
        f"{label(doc['delivery_mode'], 'delivery mode', 'en')}",
        f"期限 Term: {term} 天 days" if term else "期限 Term: 不限 not limited",
    ]
    terms = terms_from_odrl(doc.get("usage_policy") or {})
    zh, en = describe(terms, "zh"), describe(terms, "en")
    lines += [f"使用政策 Usage policy: {a} / {b}" for a, b in zip(zh, en, strict=False)]
    if doc.get("terms"):
        lines.append(f"其他条款 Further terms: {doc['terms']}")
    for sig in signatures:
        when = format_datetime(sig.at, "zh", seconds=True).replace("\u202f", " ").replace("\u00a0", " ")
        who = "买方 Buyer" if sig.party == "buyer" else "卖方 Seller"
        lines.append(f"{who} 已接受 accepted v{sig.text_version}: {sig.user_label} · {when} · {sig.ip or '—'}")
    lines.append(f"合同文本指纹 Text SHA-256: {text_sha256(doc)}")
    if log_leaf is not None:
        lines.append(f"公共日志 Log leaf: {log_leaf[0]} {log_leaf[1]}")
    return lines


def _transfer_lines(doc: dict[str, Any], product: dict[str, Any], cert: dict[str, Any],
                    log_leaf: tuple[int, str] | None) -> list[str]:
    cause = doc["cause"]
    lines = [
        f"合同编号 Contract number: {doc['number']}",
        f"买方 Buyer: {_name(doc['buyer'])} ({doc['buyer']['uscc']})",
        f"卖方 Seller (holder): {_name(doc['seller'])} ({doc['seller']['uscc']})",
        f"数据产品 Product: {product['title']['zh']} / {product['title']['en']}",
        f"登记编号 Registration number: {product['registration_number'] or '—'}",
        f"登记凭证 Certificate: {cert.get('number') or '—'}"
        + (f" (公共日志 log leaf {cert.get('log_index')})" if cert.get("log_index") is not None else ""),
        f"合同类型 Kind: {label('forced_sale', 'plan kind', 'zh')} / {label('forced_sale', 'plan kind', 'en')}",
        f"成交价 Price: {Money(int(doc['price_fen'])).display()} (CNY)",
        f"原因 Cause: {cause['text']['zh']} / {cause['text']['en']}",
        f"执行理由 Reason: {doc['scenario']}",
        f"合同文本指纹 Text SHA-256: {text_sha256(doc)}",
    ]
    if log_leaf is not None:
        lines.append(f"公共日志 Log leaf: {log_leaf[0]} {log_leaf[1]}")
    return lines


def pdf_bytes(doc: dict[str, Any], signatures: list[Any], log_leaf: tuple[int, str] | None,
              font_path: str = "") -> bytes:
    """An A4 PDF of the contract, every line wrapped to the page's width."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    title = "数据资产转让合同 Data Asset Transfer" if doc.get("cause") else "数据交易合同 Data Trading Contract"
    lines = contract_lines(doc, signatures, log_leaf)
    font, _embedded = certificate_font(font_path, "".join([title, *lines]))
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pdf.setTitle(doc["number"])
    draw_titled_lines(pdf, font, title, lines)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
