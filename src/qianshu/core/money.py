"""Money is an integer number of fen (分), never a float.

``Money`` wraps the integer so that yuan strings are parsed exactly (via ``Decimal``) and
amounts are shown as ``¥1,234.56``. Arithmetic keeps integers; division is not offered,
because splitting money needs an explicit rounding rule (a later ledger concern).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from qianshu.core.errors import InvalidInput

# 10^15 fen is ten trillion yuan: far above any transaction, far below int64's limit.
MAX_FEN = 10**15


@dataclass(frozen=True, order=True, slots=True)
class Money:
    fen: int

    def __post_init__(self) -> None:
        if isinstance(self.fen, bool) or not isinstance(self.fen, int):
            raise TypeError("Money holds an integer number of fen")
        if abs(self.fen) > MAX_FEN:
            raise InvalidInput("{field}: {reason}", field="amount", reason="is too large")

    @classmethod
    def from_yuan(cls, text: str | int, field: str = "amount") -> Money:
        """Parse '1234.5', '1,234.50' or '¥12' exactly; more than two decimals is an error."""
        raw = str(text).strip().replace(",", "")
        negative = raw.startswith("-")
        raw = raw.removeprefix("-").strip().removeprefix("¥").removeprefix("￥").strip()
        raw = ("-" if negative else "") + raw
        if len(raw) > 40:
            raise InvalidInput("{field}: {reason}", field=field, reason="is too large")
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise InvalidInput("{field}: {reason}", field=field,
                               reason="must be an amount in yuan with at most two decimals") from None
        if value.is_finite() and abs(value) > Decimal(MAX_FEN) / 100:
            raise InvalidInput("{field}: {reason}", field=field, reason="is too large")
        if not value.is_finite() or value != value.quantize(Decimal("0.01")):
            raise InvalidInput("{field}: {reason}", field=field,
                               reason="must be an amount in yuan with at most two decimals")
        fen = int(value * 100)
        if abs(fen) > MAX_FEN:
            raise InvalidInput("{field}: {reason}", field=field, reason="is too large")
        return cls(fen)

    def __add__(self, other: Money) -> Money:
        return Money(self.fen + other.fen)

    def __sub__(self, other: Money) -> Money:
        return Money(self.fen - other.fen)

    def __mul__(self, times: int) -> Money:
        if not isinstance(times, int):
            raise TypeError("multiply money by whole numbers only")
        return Money(self.fen * times)

    def yuan_str(self) -> str:
        sign = "-" if self.fen < 0 else ""
        whole, cents = divmod(abs(self.fen), 100)
        return f"{sign}{whole}.{cents:02d}"

    def display(self) -> str:
        sign = "-" if self.fen < 0 else ""
        whole, cents = divmod(abs(self.fen), 100)
        return f"{sign}¥{whole:,}.{cents:02d}"

    def __str__(self) -> str:
        return self.display()
