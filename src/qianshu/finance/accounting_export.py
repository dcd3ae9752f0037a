"""The accounting pack as files: XLSX (the disclosure tables, one row per asset, every cost line),
PDF (the same, for the notes to the financial statements) and CSV (one row per asset), in the
reader's language. Amounts are yuan (numbers in the workbook, two decimals in the text)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from qianshu.core.i18n import N_, label, ngettext, translate
from qianshu.core.vocabulary import industry_label
from qianshu.finance.accounting import AssetPack, Pack

TABLE_COLUMNS = (N_("Acquisition method"), N_("Assets"), N_("Original cost (yuan)"),
                 N_("Accumulated amortisation (yuan)"), N_("Impairment or write-down (yuan)"), N_("Book value (yuan)"),
                 N_("Amortisation this year (yuan)"))
ASSET_COLUMNS = (N_("Certificate number"), N_("Data asset"), N_("Nature (industry)"), N_("Scale (rows × columns)"),
                 N_("Source"), N_("Rights"), N_("Acquisition method"), N_("Proposed classification"),
                 N_("Original cost (yuan)"), N_("Expensed (yuan)"), N_("Useful life (months)"), N_("Months amortised"),
                 N_("Accumulated amortisation (yuan)"), N_("Impairment or write-down (yuan)"), N_("Book value (yuan)"),
                 N_("Latest signed valuation (yuan)"), N_("Licence income (yuan)"), N_("Restrictions"))
COST_COLUMNS = (N_("Certificate number"), N_("Date"), N_("Category"), N_("Amount (yuan)"), N_("Capitalised"),
                N_("Recorded in"), N_("Note"))


def yuan(fen: int | None) -> str:
    return "" if fen is None else f"{fen / 100:,.2f}"


def _title(asset: AssetPack, lang: str) -> str:
    return (asset.title_en or asset.title_zh) if lang == "en" else (asset.title_zh or asset.title_en)


def restrictions_text(asset: AssetPack, lang: str) -> str:
    return "; ".join(translate("Pledged to {bank} for {secured} yuan until {matures}", lang, bank=r["bank"],
                               secured=yuan(r["secured_fen"]), matures=r["matures_on"].isoformat())
                     for r in asset.restrictions) or translate("None", lang)


def asset_row(asset: AssetPack, lang: str) -> list[Any]:
    """One asset's disclosure items, in ASSET_COLUMNS' order (money in fen)."""
    scale = f"{asset.rows or 0:,} × {asset.columns or 0}"
    return [asset.number, _title(asset, lang), industry_label(asset.industry_code, lang), scale,
            label(asset.source, "data source", lang),
            ", ".join(label(r, "data right", lang) for r in asset.rights),
            label(asset.acquisition, "acquisition method", lang),
            label(asset.classification, "accounting class", lang), asset.cost_fen, asset.expensed_fen,
            asset.useful_life_months if asset.classification == "intangible" else None,
            asset.months_amortised if asset.classification == "intangible" else None, asset.accumulated_fen,
            asset.impairment_fen, asset.book_value_fen, asset.valuation_fen, asset.income_fen,
            restrictions_text(asset, lang)]


MONEY_ASSET_COLUMNS = {8, 9, 12, 13, 14, 15, 16}


def _heading(pack: Pack, lang: str) -> list[str]:
    return [translate("Accounting pack of data resources", lang), pack.org_name, pack.uscc,
            translate("As of {day}", lang, day=pack.as_of.isoformat())]


def pack_xlsx(pack: Pack, lang: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    def money(sheet: Any, fen: int | None) -> Any:
        if fen is None:
            return None
        cell = WriteOnlyCell(sheet, value=Decimal(fen) / 100)
        cell.number_format = "#,##0.00"
        return cell

    book = Workbook(write_only=True)
    summary = book.create_sheet(translate("Disclosure", lang)[:31])
    summary.append(_heading(pack, lang))
    for classification, title in (("intangible", "Data resources recognised as intangible assets"),
                                  ("inventory", "Data resources recognised as inventory")):
        summary.append([])
        summary.append([translate(title, lang)])
        summary.append([translate(c, lang) for c in TABLE_COLUMNS])
        for row in pack.table(classification):
            summary.append([label(row["method"], "acquisition method", lang), row["count"],
                            money(summary, row["cost_fen"]), money(summary, row["accumulated_fen"]),
                            money(summary, row["impairment_fen"]), money(summary, row["book_value_fen"]),
                            money(summary, row["period_amortisation_fen"])])
    assets = book.create_sheet(translate("Assets", lang)[:31])
    assets.append([translate(c, lang) for c in ASSET_COLUMNS])
    for asset in pack.assets:
        values = asset_row(asset, lang)
        assets.append([money(assets, v) if i in MONEY_ASSET_COLUMNS else v for i, v in enumerate(values)])
    costs = book.create_sheet(translate("Costs", lang)[:31])
    costs.append([translate(c, lang) for c in COST_COLUMNS])
    for asset in pack.assets:
        for line in asset.costs:
            capitalised = translate("yes", lang) if line.capitalised else translate("no", lang)
            costs.append([asset.number, line.on.isoformat(), label(line.category, "cost category", lang),
                          money(costs, line.amount_fen), capitalised,
                          label(line.source, "cost source", lang), line.note])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def pack_csv(pack: Pack, lang: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([translate(c, lang) for c in ASSET_COLUMNS])
    for asset in pack.assets:
        writer.writerow([yuan(v) if i in MONEY_ASSET_COLUMNS else ("" if v is None else v)
                         for i, v in enumerate(asset_row(asset, lang))])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def pack_lines(pack: Pack, lang: str) -> list[str]:
    lines = _heading(pack, lang)[1:]
    for classification, title in (("intangible", "Data resources recognised as intangible assets"),
                                  ("inventory", "Data resources recognised as inventory")):
        lines += ["", translate(title, lang)]
        for row in pack.table(classification):
            figures = [(N_("Original cost (yuan)"), row["cost_fen"]),
                       (N_("Accumulated amortisation (yuan)"), row["accumulated_fen"]),
                       (N_("Impairment or write-down (yuan)"), row["impairment_fen"]),
                       (N_("Book value (yuan)"), row["book_value_fen"]),
                       (N_("Amortisation this year (yuan)"), row["period_amortisation_fen"])]
            lines.append(" · ".join([label(row["method"], "acquisition method", lang),
                                     ngettext("{n} asset", "{n} assets", row["count"], lang)]
                                    + [f"{translate(name, lang)} {yuan(fen)}" for name, fen in figures]))
    for asset in pack.assets:
        lines += ["", f"{asset.number} {_title(asset, lang)}"]
        for heading, value in zip(ASSET_COLUMNS[2:], asset_row(asset, lang)[2:], strict=True):
            index = ASSET_COLUMNS.index(heading)
            shown = "—" if value is None else yuan(value) if index in MONEY_ASSET_COLUMNS else str(value)
            lines.append(f"{translate(heading, lang)}{'：' if lang == 'zh' else ': '}{shown}")
    return lines


def pack_pdf(pack: Pack, lang: str, font_path: str = "") -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    from qianshu.registry.certificate import certificate_font, draw_titled_lines

    title, lines = translate("Accounting pack of data resources", lang), pack_lines(pack, lang)
    font, _embedded = certificate_font(font_path, "".join([title, *lines]))
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pdf.setTitle(title)
    draw_titled_lines(pdf, font, title, lines)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
