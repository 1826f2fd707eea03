"""Targets through the real server with boto3: PutTargets, RemoveTargets, ListTargetsByRule."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.api.helpers import error_of

QUEUE = "arn:aws:sqs:us-east-1:123456789012:queue"


@pytest.fixture
def rule(events):
    events.put_rule(Name="r", EventPattern='{"source": ["x"]}')
    return "r"


def test_targets_are_stored_and_returned_unchanged(events, rule):
    targets = [
        {
            "Id": "sqs",
            "Arn": QUEUE + ".fifo",
            "SqsParameters": {"MessageGroupId": "g1"},
            "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 120},
            "DeadLetterConfig": {"Arn": QUEUE + "-dlq"},
            "InputPath": "$.detail",
        },
        {
            "Id": "transformed",
            "Arn": "arn:aws:events:us-east-1:123456789012:api-destination/d/1",
            "RoleArn": "arn:aws:iam::123456789012:role/r",
            "HttpParameters": {"PathParameterValues": ["a"], "HeaderParameters": {"h": "v"}, "QueryStringParameters": {"q": "1"}},
            "InputTransformer": {"InputPathsMap": {"src": "$.source"}, "InputTemplate": '{"from": <src>}'},
        },
        {"Id": "kinesis", "Arn": "arn:aws:kinesis:us-east-1:123456789012:stream/s", "Input": '{"constant": true}',
         "KinesisParameters": {"PartitionKeyPath": "$.id"}},
    ]  # fmt: skip
    answer = events.put_targets(Rule=rule, Targets=targets)
    assert answer["FailedEntryCount"] == 0 and answer["FailedEntries"] == []
    assert events.list_targets_by_rule(Rule=rule)["Targets"] == targets


def test_put_targets_replaces_by_id(events, rule):
    events.put_targets(Rule=rule, Targets=[{"Id": "t", "Arn": QUEUE}])
    events.put_targets(Rule=rule, Targets=[{"Id": "t", "Arn": QUEUE + "2", "Input": "{}"}])
    assert events.list_targets_by_rule(Rule=rule)["Targets"] == [
        {"Id": "t", "Arn": QUEUE + "2", "Input": "{}"}
    ]


def test_at_most_five_targets(events, rule):
    events.put_targets(Rule=rule, Targets=[{"Id": f"t{i}", "Arn": QUEUE} for i in range(5)])
    with pytest.raises(ClientError) as excinfo:
        events.put_targets(Rule=rule, Targets=[{"Id": "t5", "Arn": QUEUE}])
    assert error_of(excinfo) == (  # AWS's words, as the aws CLI prints them
        "LimitExceededException",
        "The requested resource exceeds the maximum number allowed.",
        400,
    )
    assert len(events.list_targets_by_rule(Rule=rule)["Targets"]) == 5


def test_input_forms_are_mutually_exclusive(events, rule):
    with pytest.raises(ClientError) as excinfo:
        events.put_targets(
            Rule=rule, Targets=[{"Id": "t", "Arn": QUEUE, "Input": "{}", "InputPath": "$.detail"}]
        )
    assert error_of(excinfo)[0] == "ValidationException"
    with pytest.raises(ClientError) as excinfo:
        events.put_targets(Rule=rule, Targets=[{"Id": "t", "Arn": QUEUE, "Input": "not json"}])
    assert error_of(excinfo)[0] == "ValidationException"
    assert events.list_targets_by_rule(Rule=rule)["Targets"] == []


@pytest.mark.parametrize(
    "arn",
    [
        "queue",
        "arn:aws:sqs:us-east-1:123456789012",  # no resource
        "arn:aws:sqs:us-east-1:one:queue",  # not an account
        "arn:aws:sqs:us-east-1:123456789012:my queue",
        "arn:aws:sqs:us-east-1:123456789012:queue\x00",  # PostgreSQL could not even keep it
    ],
)
def test_a_target_arn_must_be_an_arn(events, rule, arn):
    with pytest.raises(ClientError) as excinfo:
        events.put_targets(Rule=rule, Targets=[{"Id": "ok", "Arn": QUEUE}, {"Id": "bad", "Arn": arn}])
    assert error_of(excinfo)[:2] == (
        "ValidationException",
        f"Parameter {arn} is not valid. Reason: Provided Arn is not in correct format.",
    )
    assert events.list_targets_by_rule(Rule=rule)["Targets"] == []  # the whole request is refused


def test_targets_of_a_missing_rule(events):
    for call in (
        lambda: events.put_targets(Rule="missing", Targets=[{"Id": "t", "Arn": QUEUE}]),
        lambda: events.remove_targets(Rule="missing", Ids=["t"]),
        lambda: events.list_targets_by_rule(Rule="missing"),
    ):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_of(excinfo)[0] == "ResourceNotFoundException"


def test_remove_targets(events, rule):
    events.put_targets(Rule=rule, Targets=[{"Id": f"t{i}", "Arn": QUEUE} for i in range(3)])
    answer = events.remove_targets(Rule=rule, Ids=["t0", "t2"])
    assert answer["FailedEntryCount"] == 0
    assert [t["Id"] for t in events.list_targets_by_rule(Rule=rule)["Targets"]] == ["t1"]


def test_list_targets_pages(events, rule):
    events.put_targets(Rule=rule, Targets=[{"Id": f"t{i}", "Arn": QUEUE} for i in range(5)])
    first = events.list_targets_by_rule(Rule=rule, Limit=2)
    second = events.list_targets_by_rule(Rule=rule, Limit=2, NextToken=first["NextToken"])
    third = events.list_targets_by_rule(Rule=rule, Limit=2, NextToken=second["NextToken"])
    ids = [t["Id"] for page in (first, second, third) for t in page["Targets"]]
    assert ids == [f"t{i}" for i in range(5)]
    assert "NextToken" not in third
