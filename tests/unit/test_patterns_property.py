"""Properties: the index agrees with the reference evaluator, and no input makes the library fail otherwise.

Patterns and events are drawn from a small shared vocabulary (keys, strings that are also IPs, case
variants, numbers written several ways) so that they often meet.
"""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventyard.patterns import InvalidEventPattern, Pattern, RuleSet, explain, matches, parse_pattern

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYS = ["a", "b", "c", "a.b", "$or", "prefix"]
STRINGS = [
    "",
    "x",
    "X",
    "xy",
    "abc",
    "ABC",
    "aBc",
    "10.0.0.1",
    "10.0.0.255",
    "::1",
    "a*c",
    "a\\c",
    "ß",
    "SS",
    "é",
    "?",
    "\ud800",
]
NUMBERS: list[Any] = [0, 1, -1, 5, 100, 300, 300.0, 1.5, 3e2, 2**60, 2**53 + 1]

leaf_values = st.one_of(st.sampled_from(STRINGS), st.sampled_from(NUMBERS), st.booleans(), st.none())


def _event_values(depth: int) -> st.SearchStrategy[Any]:
    if depth == 0:
        return leaf_values
    inner = _event_values(depth - 1)
    return st.one_of(
        leaf_values, st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)
    )


events = st.dictionaries(st.sampled_from(KEYS), _event_values(3), max_size=4)

_numbers = st.sampled_from([0, 1, 5, 100, 300, 1.5, -1])
_strings = st.sampled_from(STRINGS)

operators = st.one_of(
    st.builds(lambda s: {"prefix": s}, _strings),
    st.builds(lambda s: {"suffix": s}, _strings),
    st.builds(lambda s: {"prefix": {"equals-ignore-case": s}}, _strings),
    st.builds(lambda s: {"suffix": {"equals-ignore-case": s}}, _strings),
    st.builds(lambda s: {"equals-ignore-case": s}, _strings),
    st.builds(
        lambda s: {"wildcard": s}, st.sampled_from(["*", "a*", "*c", "a*c", "x*y*", "", "\\*", "a\\\\c"])
    ),
    st.builds(lambda s: {"anything-but": s}, st.one_of(_strings, _numbers)),
    st.builds(lambda s: {"anything-but": s}, st.lists(_strings, min_size=1, max_size=3)),
    st.builds(lambda s: {"anything-but": s}, st.lists(_numbers, min_size=1, max_size=3)),
    st.builds(lambda s: {"anything-but": {"prefix": s}}, st.sampled_from(["a", "x", "1"])),
    st.builds(lambda s: {"anything-but": {"suffix": s}}, st.lists(st.sampled_from(["c", "y"]), max_size=2)),
    st.builds(lambda s: {"anything-but": {"equals-ignore-case": s}}, st.lists(_strings, max_size=2)),
    st.builds(lambda s: {"anything-but": {"wildcard": s}}, st.sampled_from(["*", "a*", "x*y"])),
    st.builds(lambda op, n: {"numeric": [op, n]}, st.sampled_from(["=", "<", "<=", ">", ">="]), _numbers),
    st.builds(
        lambda lo, hi: {"numeric": [">=", lo, "<", hi]},
        st.sampled_from([-1, 0, 1]),
        st.sampled_from([5, 300]),
    ),
    st.builds(lambda b: {"exists": b}, st.booleans()),
    st.builds(lambda s: {"cidr": s}, st.sampled_from(["10.0.0.0/24", "10.0.0.0/8", "::/1", "10.0.0.128/25"])),
)

match_values = st.lists(st.one_of(leaf_values, operators), min_size=1, max_size=3)


def _patterns(depth: int) -> st.SearchStrategy[Any]:
    if depth == 0:
        return st.dictionaries(st.sampled_from(KEYS), match_values, min_size=1, max_size=3)
    inner = _patterns(depth - 1)
    value = st.one_of(match_values, inner)
    plain = st.dictionaries(st.sampled_from(KEYS), value, min_size=1, max_size=3)
    with_or = st.builds(
        lambda fields, alternatives: {**fields, "$or": alternatives},
        st.dictionaries(st.sampled_from(["a", "b", "c"]), value, max_size=2),
        st.lists(inner, min_size=2, max_size=3),
    )
    return st.one_of(plain, with_or)


patterns = _patterns(2)

# Objects in arrays, fields named alike, and exists: the shapes where array consistency decides.
_elements = st.dictionaries(
    st.sampled_from(["a", "b", "c"]), st.sampled_from(["1", "2", 1, None]), max_size=3
)
array_events = st.fixed_dictionaries(
    {"d": st.lists(st.one_of(_elements, st.lists(_elements, max_size=2)), max_size=4)}
)
array_patterns = st.fixed_dictionaries(
    {
        "d": st.dictionaries(
            st.sampled_from(["a", "b", "c"]),
            st.lists(
                st.sampled_from(["1", "2", 1, {"exists": True}, {"exists": False}, {"anything-but": "1"}]),
                min_size=1,
                max_size=2,
            ),
            min_size=1,
            max_size=3,
        )
    }
)


def _valid(candidates: list[Any]) -> dict[str, Any]:
    valid: dict[str, Any] = {}
    for number, pattern in enumerate(candidates):
        try:
            parse_pattern(pattern)
        except InvalidEventPattern:
            continue
        valid[f"r{number}"] = pattern
    return valid


def _agree(valid: dict[str, Any], rules: RuleSet, sample: list[Any]) -> None:
    for event in sample:
        expected = {name for name, pattern in valid.items() if matches(pattern, event)}
        assert rules.match(event) == expected


def _index(valid: dict[str, Any]) -> RuleSet:
    rules = RuleSet()
    for name, pattern in valid.items():
        rules.add(name, pattern)
    return rules


@SETTINGS
@given(st.lists(patterns, min_size=1, max_size=5), st.lists(events, min_size=1, max_size=4))
def test_the_index_agrees_with_the_reference_evaluator(candidates: list[Any], sample: list[Any]) -> None:
    valid = _valid(candidates)
    rules = _index(valid)
    _agree(valid, rules, sample)
    for name in list(valid)[::2]:
        rules.remove(name)
        del valid[name]
    _agree(valid, rules, sample)


@SETTINGS
@given(st.lists(array_patterns, min_size=1, max_size=4), st.lists(array_events, min_size=1, max_size=4))
def test_the_index_agrees_on_arrays_and_absence(candidates: list[Any], sample: list[Any]) -> None:
    valid = _valid(candidates)
    _agree(valid, _index(valid), sample)


@SETTINGS
@given(patterns, events)
def test_explain_is_empty_exactly_when_the_event_matches(pattern: Any, event: Any) -> None:
    try:
        compiled = parse_pattern(pattern)
    except InvalidEventPattern:
        return
    assert (explain(compiled, event) == []) == matches(compiled, event)


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return True


@SETTINGS
@given(patterns, events)
def test_an_event_as_text_matches_as_the_event_does(pattern: Any, event: Any) -> None:
    try:
        compiled = parse_pattern(pattern)
    except InvalidEventPattern:
        return
    if _finite(event):
        assert matches(compiled, json.dumps(event)) == matches(compiled, event)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["prefix", "numeric", "$or", "<", ">", "="]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.one_of(
                st.text(max_size=5),
                st.sampled_from(
                    [
                        "$or",
                        "prefix",
                        "suffix",
                        "anything-but",
                        "numeric",
                        "exists",
                        "cidr",
                        "wildcard",
                        "equals-ignore-case",
                    ]
                ),
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=600, deadline=None)
@given(json_values)
def test_any_json_value_either_compiles_or_is_refused(value: Any) -> None:
    try:
        compiled = parse_pattern(value)
    except InvalidEventPattern as error:
        assert error.message.startswith("Event pattern is not valid. Reason: ")
        return
    assert isinstance(compiled, Pattern)
    # EventBridge's limits hold for whatever compiles: 1 to 1000 combinations, each of 1 to 256 fields.
    assert 1 <= len(compiled.branches) <= 1000
    assert all(1 <= len(branch) <= 256 for branch in compiled.branches)
    matches(compiled, {"a": [1, "x", None, {"b": True}]})


@settings(max_examples=600, deadline=None)
@given(
    st.lists(
        st.sampled_from([*'{}[]":,-+.0123456789eEtrufalsn\\ u$or', "prefix", "\x00", "é", "\ud800"]),
        max_size=40,
    )
)
def test_any_text_either_compiles_or_is_refused(pieces: list[str]) -> None:
    try:
        parse_pattern("".join(pieces))
    except InvalidEventPattern:
        pass


@settings(max_examples=400, deadline=None)
@given(patterns, st.data())
def test_damaged_pattern_text_either_compiles_or_is_refused(pattern: Any, data: st.DataObject) -> None:
    text = json.dumps(pattern)
    position = data.draw(st.integers(min_value=0, max_value=len(text)))
    cut = data.draw(st.integers(min_value=0, max_value=3))
    insert = data.draw(st.text(alphabet='{}[]":,\\-0e.nt ', max_size=3))
    damaged = text[:position] + insert + text[position + cut :]
    try:
        compiled = parse_pattern(damaged)
    except InvalidEventPattern:
        return
    RuleSet().add("r", compiled)
