"""Dashboards: counts by division at each level of the drill-down, by reason and month; the
treemap fills its frame; exports."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from qianshu.core.errors import NotFound
from qianshu.monitoring import dashboards
from tests.monitoring.conftest import FAR_VILLAGE, OTHER_VILLAGE, TOWNSHIP, VILLAGE, World


def test_the_drill_down_goes_from_the_province_to_the_village(db, world: World) -> None:
    world.case(db, "H1", VILLAGE)
    world.case(db, "H2", OTHER_VILLAGE)
    world.case(db, "H3", FAR_VILLAGE)
    levels = []
    for division in ("520000", "522600", "522636", TOWNSHIP, VILLAGE):
        board = dashboards.compute(db, world.province, division)
        levels.append((board.level, [r.key for r in board.series["by_division"]], board.totals["flagged"]))
    assert levels == [("province", ["522600"], 3), ("prefecture", ["522635", "522636"], 3),
                      ("county", [TOWNSHIP], 2), ("township", [VILLAGE, OTHER_VILLAGE], 2),
                      ("village", [VILLAGE], 1)]
    board = dashboards.compute(db, world.province, VILLAGE)
    assert board.parents == ["520000", "522600", "522636", TOWNSHIP]
    assert [r.key for r in board.series["by_reason"]] == ["income_below_threshold"]
    assert len(board.series["by_month"]) == 1
    with pytest.raises(NotFound):
        dashboards.compute(db, world.county, "522635")  # another county
    assert dashboards.compute(db, world.county).division == "522636"


def test_the_treemap_fills_its_frame_and_exports_open(db, world: World) -> None:
    for n in range(5):
        world.case(db, f"H{n}", VILLAGE if n < 3 else OTHER_VILLAGE)
    board = dashboards.compute(db, world.county, TOWNSHIP)
    cells = dashboards.treemap(board.series["by_division"], 640, 320)
    assert sum(c.w * c.h for c in cells) == pytest.approx(640 * 320)
    assert cells[0].code == VILLAGE
    assert cells[0].w * cells[0].h > cells[1].w * cells[1].h
    assert dashboards.to_csv(board, "by_division", "en").splitlines()[1].startswith(f"{VILLAGE},Village 001,3,")
    book = load_workbook(io.BytesIO(dashboards.to_xlsx(board, "zh")))
    assert book.sheetnames == list(dashboards.SERIES)
    # the reasons are named in the reader's language, as on the page, not by their codes
    assert [c.value for c in book["by_reason"][2]][:3] == ["income_below_threshold", "收入低于监测范围", 5]
    assert dashboards.to_csv(board, "by_reason", "en").splitlines()[1] == \
        "income_below_threshold,Income below the threshold,5,0,0,0"
