"""Every EventBridge-recorded pattern case through the library: the same verdict, or the same refusal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eventyard.patterns import InvalidEventPattern, RuleSet, matches, parse_pattern, validate_test_event

CASES: list[dict[str, Any]] = json.loads((Path(__file__).parent / "patterns.json").read_text())


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [case["name"] for case in cases]


VERDICTS = [case for case in CASES if isinstance(case["expected"], bool)]
PATTERN_ERRORS = [
    case
    for case in CASES
    if isinstance(case["expected"], dict)
    and case["expected"]["error"]["code"] == "InvalidEventPatternException"
]
EVENT_ERRORS = [
    case
    for case in CASES
    if isinstance(case["expected"], dict) and case["expected"]["error"]["code"] == "ValidationException"
]


def test_the_suite_is_complete() -> None:
    assert len(CASES) == 99
    assert len(VERDICTS) + len(PATTERN_ERRORS) + len(EVENT_ERRORS) == len(CASES)


@pytest.mark.parametrize("case", VERDICTS, ids=_ids(VERDICTS))
def test_matches_gives_aws_verdict(case: dict[str, Any]) -> None:
    event = validate_test_event(case["event_sent"])
    assert matches(case["pattern_sent"], case["event_sent"]) is case["expected"]
    assert matches(case["pattern_sent"], event) is case["expected"]


@pytest.mark.parametrize("case", VERDICTS, ids=_ids(VERDICTS))
def test_ruleset_gives_aws_verdict(case: dict[str, Any]) -> None:
    rules = RuleSet()
    rules.add("the-rule", case["pattern_sent"])
    rules.add("never", {"source": ["no-such-source-anywhere"]})
    expected = {"the-rule"} if case["expected"] else set()
    assert rules.match(case["event_sent"]) == expected
    assert rules.match(validate_test_event(case["event_sent"])) == expected


@pytest.mark.parametrize("case", PATTERN_ERRORS, ids=_ids(PATTERN_ERRORS))
def test_invalid_pattern_is_refused_with_aws_reason(case: dict[str, Any]) -> None:
    expected = case["expected"]["error"]
    assert expected["http_status"] == 400
    with pytest.raises(InvalidEventPattern) as refused:
        parse_pattern(case["pattern_sent"])
    assert refused.value.message == expected["message"]
    assert str(refused.value) == expected["message"]
    assert expected["message_raw"].startswith(refused.value.message)
    error = refused.value.to_aws_error()
    assert (error.code, error.message, error.status) == (expected["code"], expected["message"], 400)
    with pytest.raises(InvalidEventPattern):
        matches(case["pattern_sent"], case["event_sent"])
    with pytest.raises(InvalidEventPattern):
        RuleSet().add("r", case["pattern_sent"])


@pytest.mark.parametrize("case", EVENT_ERRORS, ids=_ids(EVENT_ERRORS))
def test_invalid_test_event_is_refused(case: dict[str, Any]) -> None:
    parse_pattern(case["pattern_sent"])  # the pattern itself is fine
    with pytest.raises(ValueError) as refused:
        validate_test_event(case["event_sent"])
    assert str(refused.value) == case["expected"]["error"]["message"]
