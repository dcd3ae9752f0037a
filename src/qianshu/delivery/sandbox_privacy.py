"""Differential privacy for sandbox answers, through OpenDP's Laplace mechanisms.

The unit of privacy is one row of the product's table (one person where a row is a person).
A query spends ``epsilon`` from the recipient's budget, split evenly over its measurements: the
hidden row count of each group (which also decides whether the group is shown), and each count,
sum, or avg (a sum and a count) that the buyer asked for. Groups are disjoint, so one measurement
over all groups costs its share once (parallel composition); measurements of one query add up
(sequential composition), and so do queries against the budget. The epsilon charged is what
OpenDP's own privacy maps say the mechanisms cost, not a figure of ours.

Sensitivities: a count changes by 1 when one row is added or removed; a sum of a column clamped
to ``[low, high]`` by ``max(|low|, |high|)``. Counts get discrete (integer) Laplace noise, sums
continuous Laplace noise. A query without GROUP BY releases no key: it is epsilon-DP. With
GROUP BY, which groups exist depends on the data, so a group is shown only when its noisy count
reaches a threshold ``tau = max(k, 1 + ln(1 / (2 delta)) / epsilon_count)``: a group of a single
row passes with probability at most ``delta`` (the policy's, 1e-6 by default; the tail of the
noise), which makes the query (epsilon, delta)-DP. The price is that with a small epsilon only
large groups are shown (epsilon 0.1 a count: about 130 rows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import opendp.prelude as dp

from qianshu.core.errors import Conflict

dp.enable_features("contrib")


@dataclass(frozen=True)
class PrivacyBudget:
    """A recipient's budget: what it may spend in all, and what it has spent (both parties see it)."""

    total: float
    spent: float = 0.0

    @property
    def remaining(self) -> float:
        return max(self.total - self.spent, 0.0)

    def charge(self, epsilon: float) -> PrivacyBudget:
        """The budget after spending ``epsilon``; refused, before anything runs, when it does not cover it."""
        if epsilon > self.remaining + 1e-12:
            raise Conflict("The privacy budget is spent: {remaining} of {total} remains and the query needs {needed}.",
                           code="privacy_budget_exhausted", remaining=f"{self.remaining:.4g}",
                           total=f"{self.total:.4g}", needed=f"{epsilon:.4g}")
        return replace(self, spent=self.spent + epsilon)


@cache
def _count_mechanism(scale: float) -> Any:
    return dp.m.make_laplace(dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int), scale=scale)


@cache
def _sum_mechanism(scale: float) -> Any:
    return dp.m.make_laplace(dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l1_distance(T=float),
                             scale=scale)


@dataclass(frozen=True)
class Noise:
    """The noise of one query: ``epsilon`` per measurement and what it cost in all."""

    measurements: int
    epsilon: float

    @property
    def share(self) -> float:
        return self.epsilon / self.measurements

    def counts(self, values: list[int]) -> tuple[list[int], float]:
        """Noisy counts and the epsilon OpenDP's privacy map charges for them."""
        mechanism = _count_mechanism(1.0 / self.share)
        return list(mechanism(values)) if values else [], float(mechanism.map(1))

    def sums(self, values: list[float], bounds: tuple[float, float]) -> tuple[list[float], float]:
        """Noisy sums of a column clamped to ``bounds`` and their epsilon."""
        sensitivity = max(abs(bounds[0]), abs(bounds[1])) or 1.0
        mechanism = _sum_mechanism(sensitivity / self.share)
        return list(mechanism(values)) if values else [], float(mechanism.map(sensitivity))

    def threshold(self, k: int, delta: float) -> float:
        """The noisy count a group needs to be shown (see the module's docstring)."""
        return max(float(k), 1 + math.log(1 / (2 * delta)) / self.share)

    def delta(self, threshold: float) -> float:
        """How likely a one-row group is shown at ``threshold``."""
        return math.exp(-(threshold - 1) * self.share) / 2
