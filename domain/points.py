"""Points arithmetic: `Decimal` only, two decimals for recorded points, half-up rounding."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from domain.errors import InvalidInput

CENT = Decimal("0.01")
ZERO = Decimal("0.00")  # two decimals, like every recorded points value
HUNDRED = Decimal("100")


def _refuse_binary_numbers(value: object, field: str, item: str | None) -> None:
    # Floats cannot hold 0.1 exactly; points arrive as decimal strings or integers.
    if isinstance(value, (bool, float)):
        raise InvalidInput(f"{field} must be a decimal string or integer, not "
                           f"{type(value).__name__}", field=field, item=item)


def parse_points(value: object, *, field: str = "points", item: str | None = None) -> Decimal:
    """Read points sent by a person: at most two decimals, never a float, never negative."""
    _refuse_binary_numbers(value, field, item)
    try:
        points = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"{field} {value!r} is not a number", field=field, item=item) from None
    if not points.is_finite():
        raise InvalidInput(f"{field} must be finite", field=field, item=item)
    if points != points.quantize(CENT):
        raise InvalidInput(f"{field} {value} has more than two decimals", field=field, item=item)
    if points < 0:
        raise InvalidInput(f"{field} {value} is negative", field=field, item=item)
    return abs(points).quantize(CENT)  # abs: "-0" is recorded as plain 0.00


def parse_decimal(value: object, *, field: str, item: str | None = None) -> Decimal:
    """Read a non-negative decimal quantity (ratios, shares, thresholds); floats are refused."""
    _refuse_binary_numbers(value, field, item)
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"{field} {value!r} is not a number", field=field, item=item) from None
    if not number.is_finite() or number < 0:
        raise InvalidInput(f"{field} {value} must be a finite number ≥ 0", field=field, item=item)
    return abs(number)


def round_points(value: Decimal) -> Decimal:
    """Computed item points are recorded at two decimals, half-up (1.1666… → 1.17)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def percent_of(points: Decimal, maximum: Decimal) -> Decimal:
    """Display-only percentage, two decimals half-up: 10.59 of 11 → 96.27."""
    if maximum == 0:
        return ZERO.quantize(CENT)
    return (points * HUNDRED / maximum).quantize(CENT, rounding=ROUND_HALF_UP)
