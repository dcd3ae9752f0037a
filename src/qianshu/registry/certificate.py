"""The registration certificate: its facts, signature, QR code, PDF and offline check.

The downloadable JSON is ``{"certificate": {...facts...}, "signature": {"algorithm",
"key_id", "value"}}``; ``value`` is the base64 Ed25519 signature over the RFC 8785
canonical JSON of ``certificate``. The facts include the index and hash of the public-log
leaf that recorded the issue, so anyone can also check the certificate against the log.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from qianshu.core import safejson
from qianshu.core.canonical import canonical_json, sha256_hex
from qianshu.core.errors import InvalidInput
from qianshu.core.i18n import label
from qianshu.core.signing import Signer, sign_document, verify_document

FORMAT = "qianshu-registration-certificate/1"
MAX_CERTIFICATE_BYTES = 256 * 1024


def certificate_facts(*, number: str, reg: Any, holder: Any, files: list[Any], issued_at: datetime,
                      valid_until: date, exchange_name: str, exchange_uscc: str) -> dict[str, Any]:
    """What the exchange attests (and what the public log records)."""
    return {
        "format": FORMAT,
        "number": number,
        "registration_id": reg.id,
        "type": reg.reg_type,
        "previous_number": None,
        "holder": {"name": holder.name, "name_en": holder.name_en, "uscc": holder.uscc},
        "title": {"zh": reg.title_zh, "en": reg.title_en},
        "industry_code": reg.industry_code,
        "division_code": reg.division_code,
        "rights": sorted(reg.rights),
        "classification": reg.classification,
        "personal_info": reg.personal_info,
        "data": {
            "files": [{"name": f.name, "sha256": f.sha256, "size": f.size} for f in files],
            "parquet_sha256": reg.parquet_sha256,
            "rows": reg.row_count,
            "columns": reg.column_count,
        },
        "time_coverage": {"start": _d(reg.time_coverage_start), "end": _d(reg.time_coverage_end)},
        "issued_at": issued_at.isoformat(timespec="seconds"),
        "valid_until": valid_until.isoformat(),
        "issuer": {"name": exchange_name, "uscc": exchange_uscc},
    }


def _d(value: date | None) -> str | None:
    return value.isoformat() if value else None


def facts_digest(facts: dict[str, Any]) -> str:
    return sha256_hex(canonical_json(facts))


def signed_certificate(signer: Signer, document: dict[str, Any]) -> dict[str, Any]:
    return {"certificate": document,
            "signature": {"algorithm": signer.algorithm, "key_id": signer.key_id,
                          "value": sign_document(signer, document)}}


@dataclass
class Verification:
    valid: bool
    number: str
    reason: str
    document: dict[str, Any]


def parse_certificate_json(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_CERTIFICATE_BYTES:
        raise InvalidInput("The certificate file is too large.", field="certificate")
    try:
        data = safejson.loads(raw.decode("utf-8-sig"))
    except safejson.TooDeeplyNested as exc:
        raise InvalidInput("The certificate file is nested too deeply (more than {max} levels).",
                           field="certificate", max=exc.max_depth) from None
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput("The certificate file is not valid JSON.", field="certificate") from None
    if not (isinstance(data, dict) and isinstance(data.get("certificate"), dict)
            and isinstance(data.get("signature"), dict)):
        raise InvalidInput("This JSON is not a Qianshu registration certificate.", field="certificate")
    return data


def verify_certificate(data: dict[str, Any], public_key: Ed25519PublicKey) -> Verification:
    """Offline check of the signature (revocation needs the exchange or its public log)."""
    document = data.get("certificate", {})
    signature = data.get("signature", {})
    number = str(document.get("number", ""))
    if document.get("format") != FORMAT:
        return Verification(False, number, "This JSON is not a Qianshu registration certificate.", document)
    value = signature.get("value")
    if not isinstance(value, str) or not verify_document(public_key, document, value):
        return Verification(False, number, "The signature does not match: the certificate was altered or "
                                           "was not issued with this key.", document)
    return Verification(True, number, "The signature is valid.", document)


def qr_svg(url: str) -> str:
    import segno

    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="svg", scale=4, xmldecl=False, svgns=True)
    return buffer.getvalue().decode("utf-8")


def pdf_bytes(signed: dict[str, Any], verify_url: str, revoked: bool = False) -> bytes:
    """A one-page A4 PDF, Chinese with the built-in STSong-Light CID font (nothing downloaded)."""
    import segno
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    doc = signed["certificate"]
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    width, height = A4
    pdf.setTitle(f"{doc['number']}")
    pdf.setFont("STSong-Light", 20)
    pdf.drawCentredString(width / 2, height - 70, "数据资源登记凭证 Data Registration Certificate")
    pdf.setFont("STSong-Light", 11)
    lines = [
        f"登记编号 Number: {doc['number']}",
        f"数据名称 Title: {doc['title']['zh']} / {doc['title']['en']}",
        f"持有主体 Holder: {doc['holder']['name']}  ({doc['holder']['uscc']})",
        "登记权利 Rights: " + "、".join(label(r, "data right", "zh") for r in doc["rights"]),
        f"分类分级 Classification: {label(doc['classification'], 'classification', 'zh')} "
        f"{label(doc['classification'], 'classification', 'en')} / "
        f"{label(doc['personal_info'], 'personal information', 'zh')} "
        f"{label(doc['personal_info'], 'personal information', 'en')}",
        f"行数/列数 Rows/columns: {doc['data']['rows']} / {doc['data']['columns']}",
        f"规范化数据指纹 Parquet SHA-256: {doc['data']['parquet_sha256']}",
    ]
    lines += [f"原始文件 File: {f['name']}  SHA-256 {f['sha256']}" for f in doc["data"]["files"][:8]]
    lines += [
        f"发证日期 Issued: {doc['issued_at']}   有效期至 Valid until: {doc['valid_until']}",
        f"公共日志 Log leaf: {doc.get('log', {}).get('index')}  {doc.get('log', {}).get('leaf_hash', '')}",
        f"签发机构 Issuer: {doc['issuer']['name']} ({doc['issuer']['uscc']})",
        f"签名 Signature ({signed['signature']['algorithm']}, key {signed['signature']['key_id']}):",
        signed["signature"]["value"],
        f"在线核验 Verify: {verify_url}",
    ]
    y = height - 120
    for line in lines:
        if line.endswith(verify_url):  # the verify line is a link too (its text may wrap)
            rows = -(-max(len(line), 1) // 90)
            pdf.linkURL(verify_url, (50, y - 18 * (rows - 1) - 4, width - 50, y + 12), relative=0)
        for i in range(0, max(len(line), 1), 90):
            pdf.drawString(50, y, line[i:i + 90])
            y -= 18
    if revoked:
        pdf.setFont("STSong-Light", 28)
        pdf.setFillColorRGB(0.8, 0, 0)
        pdf.drawCentredString(width / 2, 120, "已撤销 REVOKED")
    png = io.BytesIO()
    segno.make(verify_url, error="m").save(png, kind="png", scale=4)
    png.seek(0)
    pdf.drawImage(ImageReader(png), width - 170, 60, 120, 120)
    pdf.linkURL(verify_url, (width - 170, 60, width - 50, 180), relative=0)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
