"""Eventyard's event-pattern engine, for use in your own code and tests: EventBridge's semantics, offline.

>>> from eventyard.patterns import matches, RuleSet, InvalidEventPattern, explain, parse_pattern
>>> matches('{"detail-type": [{"prefix": "Order"}]}', {"detail-type": "Order Placed"})
True
>>> try:
...     parse_pattern('{"source": []}')
... except InvalidEventPattern as error:
...     print(error)
Event pattern is not valid. Reason: Empty arrays are not allowed
"""

from __future__ import annotations

from eventyard.core.patterns import (
    InvalidEventPattern,
    Mismatch,
    Pattern,
    RuleSet,
    explain,
    matches,
    parse_pattern,
    validate_test_event,
)

__all__ = [
    "InvalidEventPattern",
    "Mismatch",
    "Pattern",
    "RuleSet",
    "explain",
    "matches",
    "parse_pattern",
    "validate_test_event",
]
