"""EventBridge event patterns: parse and validate them as AWS does, match events, explain mismatches.

The semantics are those of event-ruler, the open-source matcher behind EventBridge, checked against cases
recorded on AWS (tests/conformance). `matches` evaluates one pattern; `RuleSet` compiles many into one index.
Pure functions of their arguments: no I/O.
"""

from __future__ import annotations

from typing import Any

from eventyard.core.patterns.compiler import parse_pattern
from eventyard.core.patterns.errors import InvalidEventPattern
from eventyard.core.patterns.evaluate import pattern_matches
from eventyard.core.patterns.events import flatten, load_event, validate_test_event
from eventyard.core.patterns.explain import Mismatch, explain
from eventyard.core.patterns.index import RuleSet
from eventyard.core.patterns.model import Pattern

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


def matches(pattern: Any, event: Any) -> bool:
    """Whether `event` matches `pattern`.

    `pattern` is JSON text, Python values or a compiled `Pattern` (an invalid one raises InvalidEventPattern);
    `event` is a dict or JSON text (read keeping each number's literal, as EventBridge reads it; invalid JSON
    raises ValueError).

    >>> matches({"source": ["shop"], "detail": {"total": [{"numeric": [">", 100]}]}},
    ...         {"source": "shop", "detail": {"total": 250.5}})
    True
    """
    compiled = parse_pattern(pattern)
    if isinstance(event, str | bytes | bytearray):
        event = load_event(event)
    if not isinstance(event, dict):
        return False
    return pattern_matches(compiled, flatten(event))
