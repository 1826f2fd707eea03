"""Numbers as event-ruler compares them: IEEE-754 doubles, for literals a double represents exactly.

Ruler (since 1.8, full float64 range) turns a number's JSON text into a double and accepts it for numeric
comparison only if the double's shortest decimal form (Java's ``BigDecimal.valueOf(double)``) has the same
value as the text: ``0.1`` and ``1e30`` qualify, ``1.00000000000000001``, ``9007199254740993`` and ``1e400``
do not. In a pattern such a number is refused by ``numeric`` and ``anything-but`` ("Cannot compare number");
in an event it simply takes part in no numeric comparison.

AWS's user guide (2023 text) still limits numeric matching to -5.0e9..+5.0e9 with six decimals; the engine
has since compared any double. We take the engine's range, a superset: no pattern within the documented
range is refused, and patterns beyond it behave as current Ruler makes them behave.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

MAX_DOUBLE = 1.7976931348623157e308
_EXACT_INT = 2**53


class JsonFloat(float):
    """A float read from JSON text that remembers that text (``300.0``, ``3e2``), as Ruler sees it."""

    text: str

    def __new__(cls, text: str) -> JsonFloat:
        value = super().__new__(cls, text)
        value.text = text
        return value


def comparable_text(text: str) -> float | None:
    """The double for a JSON number literal if Ruler can compare it numerically, else None."""
    try:
        value = float(text)
    except (ValueError, OverflowError):
        return None
    if not math.isfinite(value):
        return None
    if text == repr(value):
        return value
    try:
        exact = Decimal(text)
    except InvalidOperation:
        return None
    return value if Decimal(repr(value)) == exact else None


def comparable_value(value: int | float) -> float | None:
    """The double for an event's number (int, float or JsonFloat) if Ruler can compare it, else None."""
    if type(value) is int:
        if -_EXACT_INT <= value <= _EXACT_INT:
            return float(value)
        try:
            as_float = float(value)
        except OverflowError:
            return None
        return as_float if Decimal(repr(as_float)) == value else None
    text = getattr(value, "text", None)
    if text is not None:
        return comparable_text(text)
    as_float = float(value)
    return as_float if math.isfinite(as_float) else None


def number_text(value: int | float) -> str:
    """The JSON text of an event's number, as Ruler's literal match sees it."""
    if type(value) is int:
        return str(value)
    text = getattr(value, "text", None)
    if text is not None:
        return str(text)
    if isinstance(value, int):
        return str(int(value))
    return repr(float(value))


def format_number(value: float) -> str:
    """A short human form of a double, for explanations: 300 rather than 300.0."""
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)
