"""The Chinese of finance says 质权 for the right a pledgee holds (持有质权) and keeps 质押 for the act of pledging."""

from __future__ import annotations

from pathlib import Path

import qianshu.finance

PO = Path(qianshu.finance.__file__).parent / "locale" / "zh" / "LC_MESSAGES" / "messages.po"


def test_the_pledgee_holds_a_right_of_pledge_not_a_pledging() -> None:
    translations = [line for line in PO.read_text(encoding="utf-8").splitlines() if line.startswith("msgstr")]
    assert not [line for line in translations if "持有质押" in line]
    assert len([line for line in translations if "持有质权" in line]) >= 5
