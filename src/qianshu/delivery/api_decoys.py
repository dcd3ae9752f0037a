"""Keyed decoy rows in the data API's pages (delivery/decoys.py), where the seller allows them.

A decoy placed before original row *p* of a copy (``decoys.Decoy.position``) is sent on the page
whose rows reach row *p* (after the cursor's row, up to the page's last row; those placed after the
last row on the last page), before the first row at or past *p* — and only when it passes the
caller's filters, as a real row would. Decoys are the same rows a file copy of the contract
carries (the same key, the contract number), so ``qianshu watermark trace`` finds them in rows
collected from the API. They are not metered and do not count against the quota's rows: a page may
hold its ``limit`` real rows and a decoy or two.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qianshu.delivery.decoys import Decoy, DecoyModel, decoys_for
from qianshu.delivery.watermark import WatermarkKey, WatermarkPlan, WatermarkPolicy

_MODELS: OrderedDict[tuple[str, str], DecoyModel] = OrderedDict()
_LOCK = threading.Lock()


def decoy_model(policy: WatermarkPolicy, data: Path, plan: WatermarkPlan | None) -> DecoyModel | None:
    """The product's decoy model when the seller allows decoys (``policy``: the product's watermark
    policy; kept per data file and policy)."""
    from qianshu.delivery import service

    if plan is None or policy.decoys <= 0:
        return None
    key = (str(data), repr(policy))
    with _LOCK:
        if key in _MODELS:
            return _MODELS[key]
    model = service.decoy_model_for(data, policy, plan)
    with _LOCK:
        _MODELS[key] = model
        while len(_MODELS) > 16:
            _MODELS.popitem(last=False)
    return model


def _passes(values: dict[str, Any], filters: Sequence[Any]) -> bool:
    for f in filters:
        value = values.get(f.column)
        try:
            if f.op == "null":
                ok = value is None
            elif f.op == "notnull":
                ok = value is not None
            elif value is None:
                ok = False
            elif f.op == "in":
                ok = value in f.values
            elif f.op == "prefix":
                ok = str(value).startswith(str(f.values[0]))
            else:
                other = f.values[0]
                ok = {"eq": value == other, "ne": value != other, "lt": value < other, "le": value <= other,
                      "gt": value > other, "ge": value >= other}[f.op]
        except TypeError:  # a value of another type than the filter's: not a match
            ok = False
        if not ok:
            return False
    return True


def with_decoys(rows: list[list[Any]], numbers: Sequence[int], model: DecoyModel, key: WatermarkKey,
                question: Any, total_rows: int, last_page: bool, jsonable: Any) -> tuple[list[list[Any]], int]:
    """The page's rows with the decoys that belong to it; and how many were added."""
    if not numbers and not last_page:
        return rows, 0
    end = total_rows if last_page else int(numbers[-1])
    names = list(model.schema.names)
    chosen: list[tuple[int, Decoy]] = []
    for decoy in decoys_for(model, key, total_rows):
        if not question.after < decoy.position <= end:
            continue
        values = dict(zip(names, decoy.values, strict=True))
        if not _passes(values, question.filters):
            continue
        at = next((i for i, n in enumerate(numbers) if int(n) >= decoy.position), len(numbers))
        chosen.append((at, decoy))
    result = list(rows)
    for at, decoy in sorted(chosen, key=lambda item: (item[0], item[1].position, item[1].index), reverse=True):
        values = dict(zip(names, decoy.values, strict=True))
        result.insert(at, [jsonable(values[c]) for c in question.columns])
    return result, len(chosen)
