"""Money as `Decimal`, stored and sent as strings with two decimal places.

Floats cannot represent 0.10 exactly, so prices and totals never become floats:
table rows and JSON carry "25.00", arithmetic happens on `Decimal`.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")


def parse_money(value: str | Decimal) -> Decimal:
    """A stored amount as a `Decimal` rounded to cents; anything else is a data error."""
    if isinstance(value, (float, bool)):
        raise TypeError(f"Money must be a decimal string, not {type(value).__name__}: {value!r}")
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError) as exc:
        raise ValueError(f"Not a money amount: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"Not a money amount: {value!r}")
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def format_money(amount: Decimal) -> str:
    """The canonical string form of an amount, e.g. "25.00"."""
    return str(parse_money(amount))
