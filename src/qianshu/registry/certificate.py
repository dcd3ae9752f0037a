"""The registration certificate: its facts, signature, QR code, PDF and offline check.

The downloadable JSON is ``{"certificate": {...facts...}, "signature": {"algorithm",
"key_id", "value"}}``; ``value`` is the base64 Ed25519 signature over the RFC 8785
canonical JSON of ``certificate``. The facts include the index and hash of the public-log
leaf that recorded the issue, so anyone can also check the certificate against the log.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from qianshu.core import safejson
from qianshu.core.canonical import canonical_json, sha256_hex
from qianshu.core.errors import InvalidInput
from qianshu.core.i18n import label
from qianshu.core.signing import Signer, sign_document, verify_document

log = logging.getLogger(__name__)
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


# Where Chinese TrueType fonts usually live (Debian/Ubuntu, Fedora, Alpine, macOS, Windows).
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",
    "/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/google-droid-sans-fonts/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansSC-Regular.ttf",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/truetype/arphic/ukai.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/System/Library/Fonts/STHeiti Light.ttc",
    "/Library/Fonts/Arial Unicode.ttf",
    "C:/Windows/Fonts/simhei.ttf",
    "C:/Windows/Fonts/simsun.ttc",
)
TITLE = "数据资源登记凭证 Data Registration Certificate"
REVOKED = "已撤销 REVOKED"
CID_FONT = "STSong-Light"  # built into ReportLab and PDF readers: never embedded
PAGE_MARGIN = 50.0
FONT_SIZE = 10.5
LINE_HEIGHT = 15.0
QR_SIZE = 110.0


def _system_fonts() -> list[str]:
    """Fonts ``fc-list`` says cover Chinese, then the usual paths (``fc-list`` may be absent)."""
    import shutil
    import subprocess

    found: list[str] = []
    fc_list = shutil.which("fc-list")
    if fc_list:
        try:
            out = subprocess.run([fc_list, ":lang=zh", "file"], capture_output=True, text=True,  # noqa: S603
                                 timeout=5, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        found += sorted({line.split(":")[0].strip() for line in out.splitlines() if line.strip()}, key=_font_rank)
    return found + [p for p in FONT_CANDIDATES if p not in found]


def _font_rank(path: str) -> tuple[bool, bool, str]:
    """Regular faces before bold, light and the rest (NotoSansCJK-Bold.ttc sorts before -Regular),
    and, where a distribution ships one file per language, Simplified Chinese before Japanese."""
    name = path.rsplit("/", 1)[-1].lower()
    weighted = any(w in name for w in ("bold", "black", "heavy", "light", "thin", "medium", "semi"))
    other_language = any(m in name for m in ("jp", "kr", "tc", "hk")) and not any(m in name for m in ("sc", "cn"))
    return weighted, other_language, path


_FONTS: dict[str, str] = {}  # configured path or "<system>" → a registered TrueType font, or the CID font
_CFF_SOURCES: dict[str, tuple[str, int]] = {}  # … or → a CFF font (path, face) subset per document
_CHOOSE_LOCK = threading.Lock()
# characters' digest → (registered subset font, when last drawn with)
_SUBSETS: OrderedDict[str, tuple[Any, float]] = OrderedDict()
_SUBSETS_KEPT = 64  # subsets stay registered for documents drawn again soon; the oldest are dropped …
_SUBSET_IN_USE_SECONDS = 300.0  # … unless drawn with this recently (another request may be drawing with it)
_SUBSETS_LOCK = threading.Lock()
# A build is ~0.5 s of CPU and ~40 MB holding the GIL: one at a time, so a burst of downloads of new
# documents queues instead of stalling every request of the process.
_BUILDS = threading.BoundedSemaphore(1)


def certificate_font(configured: str = "", text: str = "") -> tuple[str, bool]:
    """The registered ReportLab font name for a PDF that draws ``text``, and whether it is embedded.

    The configured file is used as given; otherwise the first system font that has Chinese
    glyphs, TrueType outlines first. A font with CFF outlines (the Noto Sans CJK of most Linux
    machines; ReportLab embeds TrueType only) is cut down to ``text``'s characters and converted
    (core/truetype.py), so callers pass everything they will draw. Failing all, the built-in CID
    font STSong-Light, which readers draw with their own font (not embedded).
    """
    key = configured or "<system>"
    with _CHOOSE_LOCK:
        if key not in _FONTS and key not in _CFF_SOURCES:
            try:
                _choose_font(key, configured)
            except Exception:  # a damaged font file (a stale font cache): the PDF is drawn all the same
                log.warning("no usable font found for %s; PDFs use the built-in %s, not embedded", key, CID_FONT,
                            exc_info=True)
                _FONTS[key] = _cid_font()
    if key in _CFF_SOURCES:
        try:
            return _cff_subset(*_CFF_SOURCES[key], text), True
        except Exception:  # a font fontTools reads but cannot convert: say so, draw the document anyway
            log.warning("the font %s could not be converted to TrueType; this PDF uses the built-in %s, "
                        "not embedded", _CFF_SOURCES[key][0], CID_FONT, exc_info=True)
            return _cid_font(), False
    return _FONTS[key], _FONTS[key] != CID_FONT


def _choose_font(key: str, configured: str) -> None:
    import struct
    from pathlib import Path

    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    from qianshu.core.truetype import chinese_cff_face

    paths = [p for p in ([configured] if configured else _system_fonts()) if Path(p).is_file()]
    for path in paths:
        try:
            font = TTFont(f"QianshuCert-{hashlib.sha256(path.encode()).hexdigest()[:12]}", path, subfontIndex=0)
        except (TTFError, OSError, ValueError, KeyError, IndexError, struct.error):
            continue
        if not configured and ord("数") not in font.face.charToGlyph:
            continue  # no Chinese glyphs
        pdfmetrics.registerFont(font)
        _FONTS[key] = font.fontName
        return
    for path in paths:
        if (face := chinese_cff_face(path)) is not None:
            _CFF_SOURCES[key] = (path, face)
            return
    if configured:
        log.warning("certificate_font_path %s is not a font whose outlines can be embedded; "
                    "certificates use the built-in %s, not embedded", configured, CID_FONT)
    _FONTS[key] = _cid_font()


def _cid_font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if CID_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CID_FONT))
    return CID_FONT


def _cff_subset(path: str, face: int, text: str) -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    from qianshu.core.truetype import ALWAYS, truetype_subset

    characters = "".join(sorted(set(text + ALWAYS)))
    digest = hashlib.sha256(f"{path}\0{face}\0{characters}".encode()).hexdigest()[:20]
    if (name := _cached_subset(digest)) is not None:
        return name
    with _BUILDS:
        if (name := _cached_subset(digest)) is not None:  # built while this request waited
            return name
        name = f"QianshuSubset-{digest}"
        font = TTFont(name, io.BytesIO(truetype_subset(path, face, characters, name)))
        pdfmetrics.registerFont(font)
    with _SUBSETS_LOCK:
        _SUBSETS[digest] = (font, time.monotonic())
        while len(_SUBSETS) > _SUBSETS_KEPT:
            oldest, used = next(iter(_SUBSETS.values()))
            if time.monotonic() - used < _SUBSET_IN_USE_SECONDS:
                break  # ReportLab looks the font up by name on every line: never pull one from under a render
            _SUBSETS.popitem(last=False)
            _forget(oldest)
    return name


def _cached_subset(digest: str) -> str | None:
    with _SUBSETS_LOCK:
        if digest not in _SUBSETS:
            return None
        font, _used = _SUBSETS.pop(digest)
        _SUBSETS[digest] = (font, time.monotonic())  # the most recently used is last
        return str(font.fontName)


def _forget(font: Any) -> None:
    """Unregister a subset, and the family entries registering a multi-byte font adds (which
    ``unregister`` leaves behind)."""
    from reportlab.lib import fonts

    font.unregister()
    name = font.fontName.lower()
    for bold in (0, 1):
        for italic in (0, 1):
            fonts._tt2ps_map.pop((name, bold, italic), None)
    fonts._ps2tt_map.pop(name, None)


def wrap_text(text: str, font: str, size: float, width: float) -> list[str]:
    """``text`` broken into lines no wider than ``width`` points: at spaces where it can, else
    anywhere (hashes, signatures and Chinese have no spaces to break at)."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if stringWidth(candidate, font, size) <= width:
            line = candidate
            continue
        if stringWidth(word, font, size) <= width:
            lines.append(line)
            line = word
            continue
        line = f"{line} " if line else ""  # a word longer than a line starts where the line is
        for char in word:
            if stringWidth(line + char, font, size) > width and line:
                lines.append(line)
                line = ""
            line += char
    lines.append(line)
    return lines


def _time(value: str | None) -> str:
    from qianshu.core.l10n import format_datetime

    if not value:
        return ""
    moment = datetime.fromisoformat(value)
    text = f"{format_datetime(moment, 'zh')} / {format_datetime(moment, 'en')}"
    return text.replace("\u202f", " ").replace("\u00a0", " ")  # CLDR's narrow spaces: few fonts have them


def _day(value: str) -> str:
    from qianshu.core.l10n import format_day

    day = date.fromisoformat(value)
    return f"{format_day(day, 'zh')} / {format_day(day, 'en')}"


def _both(value: str | None, context: str) -> str:
    return f"{label(value, context, 'zh')} {label(value, context, 'en')}" if value else "—"


def certificate_lines(signed: dict[str, Any], verify_url: str) -> list[str]:
    """The PDF's text, bilingual: enumerated values by their names, times in Beijing time."""
    doc = signed["certificate"]
    coverage = doc.get("time_coverage") or {}
    log = doc.get("log") or {}
    lines = [
        f"登记编号 Number: {doc['number']}",
        f"数据名称 Title: {doc['title']['zh']} / {doc['title']['en']}",
        f"持有主体 Holder: {doc['holder']['name']}"
        + (f" / {doc['holder']['name_en']}" if doc["holder"].get("name_en") else "")
        + f" ({doc['holder']['uscc']})",
        "登记权利 Rights: " + "; ".join(_both(r, "data right") for r in doc["rights"]),
        f"数据分级 Classification: {_both(doc['classification'], 'classification')}",
        f"个人信息 Personal information: {_both(doc['personal_info'], 'personal information')}",
        f"行数/列数 Rows/columns: {doc['data']['rows']:,} / {doc['data']['columns']}",
        f"时间范围 Time coverage: {coverage.get('start') or '—'} – {coverage.get('end') or '—'}",
        f"规范化数据指纹 Parquet SHA-256: {doc['data']['parquet_sha256']}",
    ]
    lines += [f"原始文件 File: {f['name']} SHA-256 {f['sha256']}" for f in doc["data"]["files"][:8]]
    if len(doc["data"]["files"]) > 8:
        lines.append(f"… 另有 {len(doc['data']['files']) - 8} 个文件 more files")
    lines += [
        f"发证时间 Issued: {_time(doc['issued_at'])}",
        f"有效期至 Valid until: {_day(doc['valid_until'])}",
    ]
    if log:
        lines.append(f"公共日志 Log leaf: {log.get('index')} {log.get('leaf_hash', '')}")
    lines += [
        f"签发机构 Issuer: {doc['issuer']['name']} ({doc['issuer']['uscc']})",
        f"签名 Signature ({signed['signature']['algorithm']}, key {signed['signature']['key_id']}): "
        f"{signed['signature']['value']}",
        f"在线核验 Verify: {verify_url}",
    ]
    return lines


def draw_titled_lines(pdf: Any, font: str, title: str, lines: list[str], link: str = "") -> float:
    """Draw a centred title and then ``lines``, each wrapped to an A4 page's width, on as many
    pages as they need (the certificate's and the contract's PDFs); returns where the text ended.
    A line ending with ``link`` is a link on each row it wraps to."""
    from reportlab.lib.pagesizes import A4

    width, height = A4
    text_width = width - 2 * PAGE_MARGIN
    y: float = height - 70
    for part in wrap_text(title, font, 18, text_width):
        pdf.setFont(font, 18)
        pdf.drawCentredString(width / 2, y, part)
        y -= 26
    y -= 14
    pdf.setFont(font, FONT_SIZE)
    for line in lines:
        for part in wrap_text(line, font, FONT_SIZE, text_width):
            if y < PAGE_MARGIN:
                pdf.showPage()
                pdf.setFont(font, FONT_SIZE)
                y = height - PAGE_MARGIN
            pdf.drawString(PAGE_MARGIN, y, part)
            if link and line.endswith(link):
                pdf.linkURL(link, (PAGE_MARGIN, y - 4, width - PAGE_MARGIN, y + FONT_SIZE), relative=0)
            y -= LINE_HEIGHT
    return y


def pdf_bytes(signed: dict[str, Any], verify_url: str, revoked: bool = False, font_path: str = "") -> bytes:
    """An A4 PDF (one page unless the file list is long), in a Chinese font embedded when
    one is found (see :func:`certificate_font`); every line is wrapped to the page's width."""
    import segno
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    doc = signed["certificate"]
    lines = certificate_lines(signed, verify_url)
    font, _embedded = certificate_font(font_path, "".join([TITLE, *lines, REVOKED]))
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    width, height = A4
    pdf.setTitle(f"{doc['number']}")
    y = draw_titled_lines(pdf, font, TITLE, lines, link=verify_url)
    if y - QR_SIZE - 10 < PAGE_MARGIN:
        pdf.showPage()
        y = height - PAGE_MARGIN
    png = io.BytesIO()
    segno.make(verify_url, error="m").save(png, kind="png", scale=4)
    png.seek(0)
    pdf.drawImage(ImageReader(png), width - PAGE_MARGIN - QR_SIZE, y - QR_SIZE - 10, QR_SIZE, QR_SIZE)
    pdf.linkURL(verify_url, (width - PAGE_MARGIN - QR_SIZE, y - QR_SIZE - 10, width - PAGE_MARGIN, y - 10), relative=0)
    if revoked:
        pdf.setFont(font, 28)
        pdf.setFillColorRGB(0.8, 0, 0)
        pdf.drawString(PAGE_MARGIN, y - QR_SIZE / 2 - 10, REVOKED)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
