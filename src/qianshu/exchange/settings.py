"""The exchange's settings: the ``[exchange]`` table of ``qianshu.toml`` (docs/operations.md)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from qianshu.core.settings import Section


class ExchangeSettings(Section):
    name: ClassVar[str] = "exchange"

    # How long a quote stays open when the seller gives no expiry, and the longest they may give.
    quote_days: int = Field(default=14, ge=1, le=365)
    max_quote_days: int = Field(default=90, ge=1, le=365)
    # The exchange's fee, in basis points of the price (250 = 2.5 %, the rate at Shanghai's exchange),
    # and per product category: the GB/T 4754 section letter of the product's industry ("G" = transport).
    fee_basis_points: int = Field(default=250, ge=0, le=10_000)
    fee_basis_points_by_category: dict[str, int] = Field(default_factory=dict)
    # Days after delivery when the buyer's acceptance happens by itself (and the contract settles).
    auto_accept_days: int = Field(default=7, ge=1, le=90)
    # How long after settlement a buyer may ask for a refund (a request to the seller), and how many
    # days the seller has to answer before the request goes to the exchange's operators by itself.
    refund_request_days: int = Field(default=30, ge=1, le=365)
    refund_answer_days: int = Field(default=7, ge=1, le=90)
    # How long after the seller refuses a request the buyer may take it to the operators. Dispute
    # schemes bound this step: PayPal closes a dispute not escalated to a claim within 20 days of
    # its opening. 14 days after the refusal (at most 7 + 14 = 21 days after asking, when the seller
    # answers on its last day) leaves two weeks to gather evidence even across a week-long public
    # holiday (Spring Festival, National Day), and a refusal does not stay open for years.
    refund_escalation_days: int = Field(default=14, ge=1, le=365)
    # How many contracts ``qianshu demo`` makes for its two years of trading history (a background
    # job after the portal is up; 0: none). Read only by the demo.
    demo_history_contracts: int = Field(default=3000, ge=0, le=100_000)

    def fee_rate(self, category: str) -> int:
        """The fee in basis points for a product category (its industry section letter)."""
        return self.fee_basis_points_by_category.get(category, self.fee_basis_points)
