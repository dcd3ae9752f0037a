"""A TrueType subset of an OpenType/CFF font, for PDFs that must carry their fonts.

ReportLab embeds TrueType outlines only, and the Chinese fonts most Linux machines have (Noto Sans
CJK, Source Han Sans) are OpenType with CFF outlines: without this, certificates and contracts fell
back to the built-in STSong-Light, which a reader draws with whatever font it has. fontTools cuts
the font down to a document's characters and its cu2qu pen turns each cubic outline into quadratic
TrueType curves; what no library does is assemble the TrueType tables from them (fontTools keeps
that only as an example script), so that part is here.
"""

from __future__ import annotations

import io
from functools import lru_cache
from typing import Any

# Characters every document may draw whatever its text: ASCII, so that numbers and Latin names
# written later in the same font (a page number, "REVOKED") are always there.
ALWAYS = "".join(chr(c) for c in range(0x20, 0x7F))
# The face of a collection (.ttc) to take: Simplified Chinese forms first.
PREFERRED_FACES = (" SC", " CN", "SC ", "Simplified")


@lru_cache(maxsize=16)
def chinese_cff_face(path: str) -> int | None:
    """The index of the face in ``path`` that has CFF outlines and Chinese characters, preferring a
    Simplified Chinese face of a collection; None when the file is no such font."""
    from fontTools.ttLib import TTCollection, TTFont

    try:
        with open(path, "rb") as file:
            is_collection = file.read(4) == b"ttcf"
        faces = list(TTCollection(path, lazy=True).fonts) if is_collection else [TTFont(path, lazy=True)]
    except Exception:  # any damaged or foreign file is simply not a usable font
        return None
    try:
        return _preferred_chinese_face(faces)
    finally:
        for face in faces:
            face.close()


def _preferred_chinese_face(faces: list[Any]) -> int | None:
    def preferred(index: int) -> bool:
        try:
            family = str(faces[index]["name"].getDebugName(1) or "")
        except Exception:  # a damaged name table: no preference
            return False
        return any(mark in family for mark in PREFERRED_FACES)

    # a face's character map is slow to read (tens of thousands of entries): the preferred face first
    for index in sorted(range(len(faces)), key=lambda i: not preferred(i)):
        if _has_chinese_cff(faces[index]):
            return index
    return None


def _has_chinese_cff(face: Any) -> bool:
    try:
        return "CFF " in face and ord("数") in (face.getBestCmap() or {})
    except Exception:  # a damaged face: not this one
        return False


def truetype_subset(path: str, face: int, text: str, postscript_name: str) -> bytes:
    """The glyphs of ``text`` (and ASCII) from face ``face`` of the CFF font at ``path``, as a
    TrueType font file named ``postscript_name`` (ReportLab takes two fonts of one name for one)."""
    from fontTools.ttLib import TTFont

    font = TTFont(path, fontNumber=face, lazy=True)
    try:
        return _converted(font, text, postscript_name)
    finally:
        font.close()


def _converted(font: Any, text: str, postscript_name: str) -> bytes:
    from fontTools import subset
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import newTable

    # Layout tables are what make a CJK font slow to open, and a PDF places glyphs one by one.
    for tag in ("GSUB", "GPOS", "GDEF", "BASE", "JSTF", "vhea", "vmtx", "VORG", "DSIG"):
        if tag in font:
            del font[tag]
    options = subset.Options()
    options.layout_features = []
    options.notdef_outline = True
    options.desubroutinize = True
    options.hinting = False
    options.name_IDs = [1, 2, 3, 4, 6]
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(sorted(set(text + ALWAYS))))
    subsetter.subset(font)

    order = font.getGlyphOrder()
    outlines = font.getGlyphSet()
    glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = {}
    for name in order:
        pen = TTGlyphPen(None)
        # CFF winds outer contours anticlockwise, TrueType clockwise; 1 unit of error is invisible
        outlines[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
        glyf.glyphs[name] = pen.glyph()
    font["glyf"] = glyf
    font["loca"] = newTable("loca")
    del font["CFF "]
    maxp = font["maxp"]
    maxp.tableVersion = 0x00010000  # TrueType's maxp has the fields a rasteriser reads
    for field in ("maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs",
                  "maxStackElements", "maxSizeOfInstructions", "maxComponentElements"):
        setattr(maxp, field, 0)
    maxp.maxZones = 1
    font["head"].glyphDataFormat = 0
    post = font["post"]
    post.formatType = 2.0  # keeps glyph names (CFF fonts carry them in the CFF table)
    post.extraNames = []
    post.mapping = {}
    post.glyphOrder = order
    names = font["name"]
    names.names = [record for record in names.names if record.nameID != 6]
    names.setName(postscript_name, 6, 3, 1, 0x409)  # Windows, Unicode, English
    names.setName(postscript_name, 6, 1, 0, 0)  # Macintosh, Roman, English
    font.sfntVersion = "\x00\x01\x00\x00"
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()
