"""The arithmetic of a valuation worksheet: cost, income and market approaches, each step shown.

Following the China Appraisal Society's guidance on data-asset appraisal (《数据资产评估指导意见》,
2023): the **cost approach** adds what it costs to rebuild the data (acquisition, processing,
storage, labour, rights confirmation, quality assessment) and adjusts the total for quality and
obsolescence; the **income approach** discounts the income the data earns over its economic
life; the **market approach** adjusts the licence prices of comparable settled contracts for
capacity (scale), quality, time, supply and demand and the rights/scope of the licence, and
capitalises the licence income they imply (a licence is not the whole asset: see
``market_approach``). Pure functions of plain numbers: no database, no HTTP.

Money is integer fen; rates, shares and factors are basis points (1 % = 100, a factor of 1.0 is
10 000). Intermediate values are exact fractions, rounded half up to the fen once per result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

COST_ITEMS = ("acquisition_fen", "processing_fen", "storage_fen", "labour_fen", "rights_fen", "quality_fen")
BP = 10_000


def fen(value: Fraction) -> int:
    """Round half up to a whole fen (values are never negative)."""
    return int(value + Fraction(1, 2)) if value >= 0 else -int(-value + Fraction(1, 2))


@dataclass
class Step:
    """One line of the worksheet: what was computed, how, and its result in fen."""

    key: str  # an English message id (the label the page shows)
    formula: str  # the figures as computed (numbers only: the same in both languages)
    value_fen: int
    params: dict[str, Any] = field(default_factory=dict)  # the label's placeholders


@dataclass
class Approach:
    value_fen: int | None
    steps: list[Step] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"value_fen": self.value_fen,
                "steps": [{"key": s.key, "formula": s.formula, "value_fen": s.value_fen, "params": s.params}
                          for s in self.steps]}


def _yuan(fen_value: int | Fraction) -> str:
    return f"{Decimal(fen(Fraction(fen_value))) / 100:.2f}"


def _factor(bp: int) -> str:
    return f"{bp / BP:.4g}"


def cost_approach(inputs: dict[str, int]) -> Approach:
    """Replacement cost × quality factor × (1 − obsolescence)."""
    total = sum(inputs[k] for k in COST_ITEMS)
    steps = [Step("Replacement cost", " + ".join(_yuan(inputs[k]) for k in COST_ITEMS), total)]
    adjusted = Fraction(total) * inputs["quality_factor_bp"] / BP
    steps.append(Step("Adjusted for quality", f"{_yuan(total)} × {_factor(inputs['quality_factor_bp'])}",
                      fen(adjusted)))
    value = adjusted * (BP - inputs["obsolescence_bp"]) / BP
    steps.append(Step("Less obsolescence", f"{_yuan(adjusted)} × (1 − {_factor(inputs['obsolescence_bp'])})",
                      fen(value)))
    return Approach(fen(value), steps)


def income_approach(incomes_fen: list[int], share_bp: int, discount_bp: int, life_years: int) -> Approach:
    """Σ income_t × share ÷ (1 + r)^t over the economic life; a forecast shorter than the life
    carries its last year forward."""
    steps: list[Step] = []
    total = Fraction(0)
    rate = Fraction(discount_bp, BP)
    for year in range(1, life_years + 1):
        income = incomes_fen[min(year, len(incomes_fen)) - 1]
        present = Fraction(income) * share_bp / BP / (1 + rate) ** year
        total += present
        steps.append(Step("Year {year}", f"{_yuan(income)} × {_factor(share_bp)} ÷ (1 + {_factor(discount_bp)})^{year}",
                          fen(present), {"year": year}))
    steps.append(Step("Present value", f"Σ t = 1 … {life_years}", fen(total)))
    return Approach(fen(total), steps)


@dataclass(frozen=True)
class Comparable:
    """A settled contract of the exchange taken as market evidence."""

    number: str
    title: str
    industry: str
    price_fen: int
    settled_on: str


# The market approach's adjustment factors, in the order the worksheet shows them (the schema's
# names): capacity (scale), quality, time (timeliness), supply and demand, and rights/scope.
MARKET_FACTORS = ("scale_bp", "quality_bp", "timeliness_bp", "supply_demand_bp", "rights_bp")


def annuity_factor(discount_bp: int, life_years: int) -> Fraction:
    """Σ 1 ÷ (1 + r)^t for t = 1 … n: what one yuan a year over the life is worth today."""
    rate = Fraction(discount_bp, BP)
    return sum((1 / (1 + rate) ** year for year in range(1, life_years + 1)), Fraction(0))


def market_approach(comparables: list[Comparable], factors: dict[str, int], licences_per_year: int = 1,
                    discount_bp: int = 0, life_years: int = 1) -> Approach:
    """Like is compared with like: the comparables are **licence** prices (what one buyer paid for
    the use of a product), not prices of whole assets. Each is adjusted by the factors of the
    guidance (capacity, quality, time, supply and demand, rights/scope of the licence); their mean
    is the price one licence of this asset would fetch; times the licences it is expected to sell a
    year, that is its licence income, capitalised over the economic life at the discount rate
    (the income approach's): value = adjusted price × licences a year × Σ 1 ÷ (1 + r)^t."""
    if not comparables:
        return Approach(None, [])
    product = Fraction(1)
    for name in MARKET_FACTORS:
        product *= Fraction(factors.get(name, BP), BP)
    formula = " × ".join(_factor(factors.get(n, BP)) for n in MARKET_FACTORS)
    steps = [Step("Comparable licence {number}", f"{_yuan(c.price_fen)} × {formula}", fen(c.price_fen * product),
                  {"number": c.number}) for c in comparables]
    mean = sum((Fraction(c.price_fen) * product for c in comparables), Fraction(0)) / len(comparables)
    steps.append(Step("Adjusted price of one licence", f"Σ ÷ {len(comparables)}", fen(mean)))
    yearly = mean * licences_per_year
    steps.append(Step("Licence income per year", f"{_yuan(mean)} × {licences_per_year}", fen(yearly)))
    annuity = annuity_factor(discount_bp, life_years)
    value = yearly * annuity
    steps.append(Step("Capitalised over the economic life",
                      f"{_yuan(yearly)} × Σ 1 ÷ (1 + {_factor(discount_bp)})^t, t = 1 … {life_years} "
                      f"= {_yuan(yearly)} × {float(annuity):.4f}", fen(value)))
    return Approach(fen(value), steps)


def deviation_bp(value_fen: int, market_fen: int | None) -> int | None:
    """How far the concluded value lies from the market approach (basis points of the market value)."""
    if market_fen is None or market_fen <= 0:
        return None
    return abs(value_fen - market_fen) * BP // market_fen
