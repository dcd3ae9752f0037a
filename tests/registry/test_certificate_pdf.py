"""The certificate PDF: fonts embedded, nothing off the page, names instead of keys, Beijing time."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
import reportlab
from pypdf import PdfReader
from reportlab.pdfbase.pdfmetrics import stringWidth

from qianshu.registry import certificate
from qianshu.registry.settings import RegistrySettings
from tests.registry.test_pages import _issued

VERA = str(Path(reportlab.__file__).parent / "fonts" / "Vera.ttf")  # a TrueType font shipped with ReportLab
RAW_KEYS = ("holding", "processing_use", "operation", "general", "important", "sensitive")


def _signed(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "format": certificate.FORMAT, "number": "QS-DR-2026-000123", "registration_id": 7, "type": "initial",
        "previous_number": None,
        "holder": {"name": "贵州黔云数据科技有限公司", "name_en": "Qianyun Data Co.", "uscc": "91520100MA6DQ7JX0W"},
        "title": {"zh": "贵阳市居民出行样本数据（二〇二五年全年，按区县与交通方式汇总）" * 2,
                  "en": "Guiyang residents' travel sample, whole of 2025, by county and mode of transport"},
        "industry_code": "I64", "division_code": "520102", "rights": ["holding", "operation", "processing_use"],
        "classification": "important", "personal_info": "sensitive",
        "data": {"files": [{"name": f"居民出行_第{i}批_very_long_file_name_without_any_space_{'x' * 60}.csv",
                            "sha256": "ab" * 32, "size": 1234} for i in range(3)],
                 "parquet_sha256": "cd" * 32, "rows": 1234567, "columns": 12},
        "time_coverage": {"start": "2025-01-01", "end": "2025-12-31"},
        "issued_at": "2026-11-30T20:30:00+00:00", "valid_until": "2029-11-30",
        "issuer": {"name": "黔数数据交易所", "uscc": "91520100MA6DQ7JX0W"},
        "log": {"index": 41, "leaf_hash": "ef" * 32},
    }
    doc.update(changes)
    return {"certificate": doc, "signature": {"algorithm": "Ed25519", "key_id": "k" * 16, "value": "S" * 88}}


def _fonts_embedded(pdf: bytes) -> list[str]:
    """The font files a PDF carries (FontFile: Type 1, FontFile2: TrueType, FontFile3: CFF)."""
    reader = PdfReader(io.BytesIO(pdf))
    found = []
    for page in reader.pages:
        resources: Any = page["/Resources"]
        for font in resources["/Font"].values():
            font = font.get_object()
            descendants = [d.get_object() for d in font.get("/DescendantFonts", [])] or [font]
            for d in descendants:
                descriptor = d.get("/FontDescriptor")
                if descriptor is not None:
                    found += [k for k in ("/FontFile", "/FontFile2", "/FontFile3") if k in descriptor.get_object()]
    return found


def _text_runs(pdf: bytes) -> list[tuple[str, float, float]]:
    """Every text run with where it starts and the font size, from the PDF itself."""
    runs: list[tuple[str, float, float]] = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        def visit(text: str, cm: Any, tm: Any, font: Any, size: float) -> None:
            if text.strip():
                runs.append((text, tm[4] * cm[0] + cm[4], size * tm[0]))
        page.extract_text(visitor_text=visit)
    return runs


def test_a_configured_truetype_font_is_embedded() -> None:
    pdf = certificate.pdf_bytes(_signed(), "https://exchange.example/registry/certificates/QS-DR-2026-000123",
                                font_path=VERA)
    assert "/FontFile2" in _fonts_embedded(pdf)


def _cff_font(path: Path) -> Path:
    """An OpenType font with CFF outlines (as Noto Sans CJK is) that has 数, 据 and A: a square,
    a triangle and a bar, so the converted outlines can be told apart."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.t2CharStringPen import T2CharStringPen

    shapes = {".notdef": [(100, 0), (500, 0), (500, 700), (100, 700)],
              "shu": [(50, 0), (950, 0), (950, 800), (50, 800)],
              "ju": [(50, 0), (950, 0), (500, 800)], "A": [(50, 0), (550, 0), (550, 100), (50, 100)]}
    builder = FontBuilder(1000, isTTF=False)
    builder.setupGlyphOrder(list(shapes))
    builder.setupCharacterMap({ord("数"): "shu", ord("据"): "ju", ord("A"): "A"})
    charstrings = {}
    for name, points in shapes.items():
        pen = T2CharStringPen(1000, None)
        pen.moveTo(points[0])
        for point in points[1:]:
            pen.curveTo(point, point, point) if name == "shu" else pen.lineTo(point)  # cubic curves to convert
        pen.closePath()
        charstrings[name] = pen.getCharString()
    builder.setupCFF("QianshuTestCJK-Regular", {"FullName": "Qianshu Test CJK"}, charstrings, {})
    builder.setupHorizontalMetrics(dict.fromkeys(shapes, (1000, 50)))
    builder.setupHorizontalHeader(ascent=880, descent=-120)
    builder.setupNameTable({"familyName": "Qianshu Test CJK SC", "styleName": "Regular"})
    builder.setupOS2(sTypoAscender=880, usWinAscent=880, usWinDescent=120)
    builder.setupPost()
    builder.save(str(path))
    return path


def test_a_cff_font_is_converted_and_embedded_as_truetype(tmp_path: Path) -> None:
    """Noto Sans CJK and Source Han Sans have CFF outlines, which ReportLab cannot embed: the PDF
    carries a TrueType font cut from them to the document's characters."""
    from fontTools.ttLib import TTFont

    font_path = str(_cff_font(tmp_path / "cjk.otf"))
    certificate.certificate_font(font_path, "A")  # another document's subset of the same face, drawn before
    pdf = certificate.pdf_bytes(_signed(), "https://exchange.example/v", font_path=font_path)
    assert set(_fonts_embedded(pdf)) == {"/FontFile2"}  # TrueType, in as many subsets as ReportLab makes
    assert b"STSong-Light" not in pdf
    widest = []
    for font in PdfReader(io.BytesIO(pdf)).pages[0]["/Resources"]["/Font"].values():  # type: ignore[index]
        font = font.get_object()
        for face in [d.get_object() for d in font.get("/DescendantFonts", [])] or [font]:
            if "/FontDescriptor" in face and "/FontFile2" in face["/FontDescriptor"]:
                embedded = TTFont(io.BytesIO(face["/FontDescriptor"]["/FontFile2"].get_data()))
                assert "glyf" in embedded  # TrueType outlines
                assert "CFF " not in embedded
                embedded["glyf"].ensureDecompiled()
                widest += [g.xMax for g in embedded["glyf"].glyphs.values() if getattr(g, "numberOfContours", 0)]
    assert 950 in widest  # the square and the triangle of 数 and 据 kept their outlines
    text = " ".join(r[0] for r in _text_runs(pdf))
    assert "数据" in text  # a reader copies the characters, not boxes


def test_the_system_font_is_embedded_or_the_builtin_cid_font_is_named() -> None:
    font, embedded = certificate.certificate_font("")
    pdf = certificate.pdf_bytes(_signed(), "https://exchange.example/v")
    if embedded:  # this machine has a Chinese TrueType or CFF font (Noto Sans CJK): the PDF carries it
        assert "/FontFile2" in _fonts_embedded(pdf)
    else:
        assert font == certificate.CID_FONT
        assert b"/STSong-Light" in pdf


@pytest.mark.parametrize("font_path", ["", VERA])
def test_no_line_runs_off_the_page(font_path: str) -> None:
    from reportlab.lib.pagesizes import A4

    signed, url = _signed(), "https://exchange.example/registry/certificates/QS-DR-2026-000123"
    pdf = certificate.pdf_bytes(signed, url, font_path=font_path)
    font, _ = certificate.certificate_font(  # the font the PDF was drawn in (a CFF font is cut to its text)
        font_path, "".join([certificate.TITLE, *certificate.certificate_lines(signed, url), certificate.REVOKED]))
    text = "".join(r[0] for r in _text_runs(pdf))
    assert signed["signature"]["value"] in re.sub(r"\s", "", text)  # all of it, wrapped
    for run, x, size in _text_runs(pdf):
        for line in run.splitlines():
            assert x >= 0, line
            assert x + stringWidth(line, font, size) <= A4[0] - certificate.PAGE_MARGIN + 0.5, line


def test_labels_and_beijing_time_instead_of_keys_and_utc() -> None:
    text = " ".join(r[0] for r in _text_runs(certificate.pdf_bytes(_signed(), "https://exchange.example/v")))
    for key in RAW_KEYS:
        assert not re.search(rf"(?<![A-Za-z_]){key}(?![A-Za-z_])", text), key
    assert not re.search(r"(信息|information): (none|personal|sensitive)\b", text)
    assert "数据持有权" in text or "数据资源持有权" in text
    assert "Right to process and use" in text
    assert "Important data" in text
    assert "敏感个人信息" in text
    assert "Sensitive personal information" in text
    assert "2026年12月1日 04:30 GMT+08:00" in text  # 20:30 UTC is the next morning in Beijing
    assert "Dec 1, 2026, 4:30 AM GMT+08:00" in text
    assert "20:30" not in text


def test_the_portal_pdf_uses_the_configured_font(client, database, db, settings, make, merchant, reviewer,  # type: ignore[no-untyped-def]
                                                  operator, gb_csv) -> None:
    _reg, cert = _issued(  # type: ignore[no-untyped-call]
        database, db, settings, make, merchant, reviewer, operator, gb_csv)
    settings.override(RegistrySettings, certificate_font_path=VERA)
    pdf = client.get(f"/registry/certificates/{cert.number}/pdf")
    assert pdf.status_code == 200
    assert "/FontFile2" in _fonts_embedded(pdf.content)
    text = " ".join(r[0] for r in _text_runs(pdf.content))
    assert "GMT+08:00" in text
    assert "holding" not in text


@pytest.mark.parametrize("content", [b"not a font", b"ttcf\x00\x01\x00\x00\x00\x00\x00\x09"],
                         ids=["not-a-font", "truncated-collection"])
def test_an_unusable_configured_font_falls_back_to_the_builtin_cid_font(tmp_path: Path, content: bytes,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    bogus = tmp_path / "not-a-font.ttf"
    bogus.write_bytes(content)
    with caplog.at_level("WARNING"):
        pdf = certificate.pdf_bytes(_signed(), "https://exchange.example/v", font_path=str(bogus))
    assert b"/STSong-Light" in pdf
    assert not _fonts_embedded(pdf)
    assert "certificate_font_path" in caplog.text


def test_concurrent_documents_in_a_cff_font_all_read_right(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many new documents at once, with room for one subset only: none is drawn with a font pulled
    from under it (ReportLab looks a font up by name on every line), and each reads its own text."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(certificate, "_SUBSETS_KEPT", 1)
    font_path = str(_cff_font(tmp_path / "cjk.otf"))

    def name(n: int) -> str:  # each document its own name, in the only characters the font has
        return "".join("数" if bit == "1" else "据" for bit in f"{n:05b}")

    def draw(n: int) -> str:
        # a character the font lacks makes each document's character set, and so its subset, its own
        signed = _signed(holder={"name": name(n) + chr(0x4E00 + n), "name_en": "A", "uscc": "A"})
        return "".join(r[0] for r in _text_runs(certificate.pdf_bytes(signed, "https://exchange.example/v",
                                                                       font_path=font_path)))

    with ThreadPoolExecutor(max_workers=8) as pool:  # without the in-use guard, a KeyError within 48
        texts = list(pool.map(draw, range(48)))
    for n, text in enumerate(texts):
        assert name(n) in text
