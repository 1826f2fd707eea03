"""core.arn: the name patterns it keeps must be the service model's, what counts as a target ARN, and the
partition of a Region."""

from __future__ import annotations

import botocore.session
import pytest

from eventyard.core import arn as arns

MODEL = botocore.session.get_session().get_service_model("events")


@pytest.mark.parametrize(("kept", "shape"), [(arns.RULE_NAME, "RuleName"), (arns.BUS_NAME, "EventBusName")])
def test_the_name_patterns_are_the_models(kept, shape):
    # core keeps its own copies rather than loading the service model; this keeps them from drifting from it
    assert kept.pattern == MODEL.shape_for(shape).metadata["pattern"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("arn:aws:sqs:us-east-1:123456789012:queue", True),
        ("arn:aws:iam::123456789012:role/r", True),  # no Region
        ("arn:aws-cn:lambda:cn-north-1:123456789012:function:f", True),
        ("arn:aws:events:us-east-1:123456789012:api-destination/d/0f1e", True),
        ("queue", False),
        ("arn:aws:sqs:us-east-1:123456789012:", False),  # no resource
        ("arn:aws:sqs:us-east-1:one:queue", False),
        ("arn:aws:sqs:us-east-1:123456789012:my queue", False),
        ("arn:aws:sqs:us-east-1:123456789012:q\x00", False),
        ("arn:gcp:sqs:us-east-1:123456789012:queue", False),
    ],
)
def test_what_is_a_well_formed_target_arn(text, expected):
    assert arns.well_formed(text) is expected


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("us-east-1", "aws"),
        ("eu-west-1", "aws"),
        ("cn-north-1", "aws-cn"),
        ("cn-northwest-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-gov-east-1", "aws-us-gov"),
        ("us-iso-east-1", "aws-iso"),
        ("us-isob-east-1", "aws-iso-b"),
        ("eu-isoe-west-1", "aws-iso-e"),
        ("us-isof-south-1", "aws-iso-f"),
        ("eusc-de-east-1", "aws-eusc"),
        ("cn-south-9", "aws-cn"),  # not listed (yet): by the partition's regionRegex
        ("us-gov-north-7", "aws-us-gov"),
        ("local", "aws"),  # in no partition
        ("", "aws"),
    ],
)
def test_the_partition_of_a_region(region, expected):
    assert arns.partition(region) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("arn:aws-cn:sqs:cn-north-1:123456789012:queue", True),
        ("arn:aws-us-gov:sqs:us-gov-west-1:123456789012:queue", True),
        ("arn:aws-iso-b:sqs:us-isob-east-1:123456789012:queue", True),
        ("arn:aws-us-gov:iam::123456789012:role/r", True),  # no Region: any partition
        ("arn:aws:sqs:cn-north-1:123456789012:queue", False),  # cn-north-1 is in aws-cn
        ("arn:aws-cn:sqs:us-east-1:123456789012:queue", False),
        ("arn:aws-us-gov:sqs:cn-north-1:123456789012:queue", False),
        ("arn:aws-cn:sqs:local:123456789012:queue", False),  # a Region in no partition is aws's
    ],
)
def test_a_target_arn_is_in_the_partition_of_its_region(text, expected):
    assert arns.well_formed(text) is expected
    assert (arns.fields(text) is not None) is expected


def test_arns_are_formed_in_the_partition_of_their_region():
    assert (
        arns.event_bus("cn-north-1", "123456789012", "b")
        == "arn:aws-cn:events:cn-north-1:123456789012:event-bus/b"
    )
    assert arns.rule("us-gov-west-1", "123456789012", "b", "r") == (
        "arn:aws-us-gov:events:us-gov-west-1:123456789012:rule/b/r"
    )
    assert arns.event_source("us-iso-east-1", "aws.partner/x.com/1/s") == (
        "arn:aws-iso:events:us-iso-east-1::event-source/aws.partner/x.com/1/s"
    )
    assert arns.event_bus("us-east-1", "123456789012", "default") == (
        "arn:aws:events:us-east-1:123456789012:event-bus/default"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("arn:aws-cn:events:cn-north-1:123456789012:event-bus/b", True),
        ("arn:aws-us-gov:events:us-gov-west-1:123456789012:rule/b/r", True),
        ("arn:aws:events:cn-north-1:123456789012:event-bus/b", False),
        ("arn:aws-cn:events:us-east-1:123456789012:rule/r", False),
        ("arn:aws-us-gov:events:cn-north-1:123456789012:event-bus/b", False),
    ],
)
def test_an_eventbridge_arn_is_in_the_partition_of_its_region(text, expected):
    assert (arns.parse(text) is not None) is expected


def test_a_bus_arn_in_another_partition_names_its_bus():
    bus = arns.parse_event_bus("arn:aws-us-gov:events:us-gov-west-1:123456789012:event-bus/b")
    assert bus == ("123456789012", "us-gov-west-1", "b")
    assert arns.parse_event_bus("arn:aws:events:us-gov-west-1:123456789012:event-bus/b") is None
