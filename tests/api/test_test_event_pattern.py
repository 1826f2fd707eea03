"""TestEventPattern through the real server with boto3: every case recorded against AWS gives AWS's answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.api.helpers import error_of

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).resolve().parent.parent / "conformance" / "patterns.json").read_text()
)


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_every_recorded_case(events: Any, case: dict[str, Any]) -> None:
    expected = case["expected"]
    if isinstance(expected, bool):
        answer = events.test_event_pattern(EventPattern=case["pattern_sent"], Event=case["event_sent"])
        assert answer["Result"] is expected
        return
    with pytest.raises(ClientError) as refused:
        events.test_event_pattern(EventPattern=case["pattern_sent"], Event=case["event_sent"])
    code, message, status = error_of(refused)
    error = expected["error"]
    assert (code, status) == (error["code"], error["http_status"])
    assert message.split("\n")[0] == error["message"]


def test_the_event_is_checked_before_the_pattern(events: Any) -> None:
    with pytest.raises(ClientError) as refused:
        events.test_event_pattern(EventPattern='{"a": []}', Event="not json")
    assert error_of(refused) == ("ValidationException", "Parameter Event is not valid.", 400)


@pytest.mark.parametrize(
    "event",
    [
        '{"id": "1", "account": "1", "source": "s", "time": "t", "region": "r"}',  # no detail-type
        '[{"id": "1"}]',
        '{"id": "1", "account": "1", "source": "s", "time": "t", "region": "r", "detail-type": "d", '
        '"x": NaN}',
    ],
)
def test_events_aws_refuses(events: Any, event: str) -> None:
    with pytest.raises(ClientError) as refused:
        events.test_event_pattern(EventPattern='{"source": ["s"]}', Event=event)
    assert error_of(refused) == ("ValidationException", "Parameter Event is not valid.", 400)


def test_resources_may_be_left_out(events: Any) -> None:
    event = {
        "id": "1",
        "account": "111122223333",
        "source": "s",
        "time": "2024-01-01T00:00:00Z",
        "region": "r",
        "detail-type": "d",
    }
    assert (
        events.test_event_pattern(EventPattern='{"source": ["s"]}', Event=json.dumps(event))["Result"] is True
    )


def deep_event(levels: int) -> str:
    """An event nested `levels` deep: its detail has `order` and, one level down, a chain of objects."""
    chain = '{"a":' * (levels - 2) + "1" + "}" * (levels - 2)
    return (
        '{"id":"1","account":"111122223333","source":"s","time":"2024-01-01T00:00:00Z","region":"r",'
        f'"detail-type":"d","detail":{{"order":7,"a":{chain}}}}}'
    )


def test_an_event_nested_as_deep_as_aws_reads_is_matched(events: Any) -> None:
    event = deep_event(1000)  # the event is the first level: its detail the second
    assert events.test_event_pattern(EventPattern='{"detail": {"order": [7]}}', Event=event)["Result"] is True
    assert (
        events.test_event_pattern(EventPattern='{"detail": {"order": [8]}}', Event=event)["Result"] is False
    )


@pytest.mark.parametrize("levels", [1001, 1025, 5000])
def test_an_event_nested_deeper_than_aws_reads_is_refused(events: Any, levels: int) -> None:
    with pytest.raises(ClientError) as refused:
        events.test_event_pattern(EventPattern='{"detail": {"order": [7]}}', Event=deep_event(levels))
    assert error_of(refused) == ("ValidationException", "Parameter Event is not valid.", 400)
