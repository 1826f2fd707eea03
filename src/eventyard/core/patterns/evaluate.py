"""The reference evaluator: one pattern against one event, test by test, the plain way.

`RuleSet` answers the same question for many patterns at once through an index; this module is the
straightforward statement of the semantics it must agree with (tests check one against the other, as
event-ruler checks its two matchers against each other).

A branch matches if its fields, visited in Ruler's order, can each be given a value that passes the field's
predicate, all of them drawn from consistent elements of any arrays they are in; a predicate with
``exists: false`` is also satisfied when the event has no value at the path consistent with the values chosen
for the fields before it.
"""

from __future__ import annotations

from typing import Any

from eventyard.core.patterns.events import Fields, Membership, literal_text, merge
from eventyard.core.patterns.ip import address_if_ip
from eventyard.core.patterns.model import (
    AnythingBut,
    AnythingButIgnoreCase,
    AnythingButPrefix,
    AnythingButSet,
    AnythingButSuffix,
    AnythingButWildcard,
    Branch,
    EqualsIgnoreCase,
    ExactLiteral,
    ExactString,
    Exists,
    IpRange,
    NumericEquals,
    NumericRange,
    Pattern,
    Predicate,
    Prefix,
    PrefixIgnoreCase,
    Suffix,
    SuffixIgnoreCase,
    ValueTest,
    Wildcard,
)
from eventyard.core.patterns.numbers import comparable_value
from eventyard.core.patterns.text import (
    case_positions,
    ends_with_ignore_case,
    equals_ignore_case,
    java_utf8,
    starts_with_ignore_case,
    wildcard_regex,
)


def is_number(value: Any) -> bool:
    return type(value) is int or isinstance(value, float)  # bool, a subclass of int, is no number here


def _plain_accepts(test: ValueTest, value: Any) -> bool:
    """Whether `test` accepts `value` when Ruler compares the value's own JSON text."""
    is_string = type(value) is str
    if is_string:
        value = java_utf8(value)
    if isinstance(test, ExactString):
        return is_string and value == java_utf8(test.value)
    if isinstance(test, ExactLiteral):
        return not is_string and literal_text(value) == test.text
    if isinstance(test, Exists):
        return True
    if isinstance(test, AnythingBut):
        if is_string:
            return value not in {java_utf8(s) for s in test.strings}
        return True
    if isinstance(test, AnythingButSet):
        return _anything_but_set_accepts(test, value, is_string)
    if not is_string:
        return False
    if isinstance(test, Prefix):
        return value.startswith(java_utf8(test.value))
    if isinstance(test, Suffix):
        return value.endswith(java_utf8(test.value))
    if isinstance(test, EqualsIgnoreCase):
        return equals_ignore_case(case_positions(test.value), value)
    if isinstance(test, PrefixIgnoreCase):
        return starts_with_ignore_case(case_positions(test.value), value)
    if isinstance(test, SuffixIgnoreCase):
        return ends_with_ignore_case(case_positions(test.value), value)
    if isinstance(test, Wildcard):
        return wildcard_regex(test.pattern).fullmatch(value) is not None
    return False  # numeric and IP tests never accept a value read as text


def _anything_but_set_accepts(test: AnythingButSet, value: Any, is_string: bool) -> bool:
    values = test.values
    if not values:
        return False  # Ruler stores nothing for an empty list, so nothing can match it
    if not is_string:
        return True
    if isinstance(test, AnythingButPrefix):
        return not any(value.startswith(java_utf8(v)) for v in values)
    if isinstance(test, AnythingButSuffix):
        return not any(value.endswith(java_utf8(v)) for v in values)
    if isinstance(test, AnythingButIgnoreCase):
        return not any(equals_ignore_case(case_positions(v), value) for v in values)
    if isinstance(test, AnythingButWildcard):
        return not any(wildcard_regex(v).fullmatch(value) for v in values)
    raise AssertionError(test)


def _rewritten_accepts(test: ValueTest, number: float | None, address: tuple[int, int] | None) -> bool:
    """Whether `test` accepts a value Ruler has rewritten as a number or as an IP address.

    The rewritten text starts with no quote, so only numeric tests (for a number), IP tests (for an address),
    ``exists`` and ``anything-but`` (which nothing quoted can rule out) can accept it.
    """
    if isinstance(test, Exists):
        return True
    if isinstance(test, AnythingBut):
        return number is None or number not in test.numbers
    if isinstance(test, AnythingButSet):
        return bool(test.values)
    if number is not None:
        if isinstance(test, NumericEquals):
            return test.value == number
        if isinstance(test, NumericRange):
            return test.contains(number)
        return False
    if address is not None and isinstance(test, IpRange):
        return test.size == address[0] and test.low <= address[1] <= test.high
    return False


def predicate_accepts(predicate: Predicate, value: Any) -> bool:
    """Whether any value test of `predicate` accepts the leaf `value`."""
    if predicate.numeric_mode and is_number(value):
        number = comparable_value(value)
        if number is not None:
            return any(_rewritten_accepts(t, number, None) for t in predicate.value_tests)
    elif predicate.ip_mode and type(value) is str:
        address = address_if_ip(java_utf8(value))
        if address is not None:
            return any(_rewritten_accepts(t, None, address) for t in predicate.value_tests)
    return any(_plain_accepts(t, value) for t in predicate.value_tests)


def branch_matches(branch: Branch, fields: Fields) -> bool:
    """Whether one branch of a pattern matches the flattened event."""

    def search(index: int, membership: Membership) -> bool:
        if index == len(branch):
            return True
        path, predicate = branch[index]
        values = fields.get(path, ())
        consistent_present = False
        for value, where in values:
            combined = merge(membership, where)
            if combined is None:
                continue
            consistent_present = True
            if predicate_accepts(predicate, value) and search(index + 1, combined):
                return True
        return predicate.absent_ok and not consistent_present and search(index + 1, membership)

    return search(0, ())


def pattern_matches(pattern: Pattern, fields: Fields) -> bool:
    return any(branch_matches(branch, fields) for branch in pattern.branches)
