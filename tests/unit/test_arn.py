"""core.arn: the name patterns it keeps must be the service model's, and what counts as a target ARN."""

from __future__ import annotations

import botocore.session
import pytest

from eventyard.core import arn as arns

MODEL = botocore.session.get_session().get_service_model("events")


@pytest.mark.parametrize(("kept", "shape"), [(arns.RULE_NAME, "RuleName"), (arns.BUS_NAME, "EventBusName")])
def test_the_name_patterns_are_the_models(kept, shape):
    # core stays free of botocore; this keeps its copies of the contract from drifting from it
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
