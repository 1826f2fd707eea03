"""core.policy: the statements PutPermission writes, and whether a bus policy lets an account put events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from eventyard.core import policy

BUS = "arn:aws:events:us-east-1:111111111111:event-bus/default"
SENDER = "222222222222"


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": policy.VERSION, "Statement": list(statements)})


def allow(principal: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": "events:PutEvents", "Resource": BUS, **extra}


def test_the_statements_put_permission_writes():
    assert policy.allows(
        document(policy.statement("s", BUS, "events:PutEvents", SENDER)), SENDER, "events:PutEvents"
    )
    assert not policy.allows(
        document(policy.statement("s", BUS, "events:PutEvents", "333333333333")), SENDER, "events:PutEvents"
    )
    assert policy.allows(
        document(policy.statement("s", BUS, "events:PutEvents", "*")), SENDER, "events:PutEvents"
    )


def test_an_organization_condition_needs_that_organization():
    org = {"Type": "StringEquals", "Key": "aws:PrincipalOrgID", "Value": "o-1234567890"}
    text = document(policy.statement("s", BUS, "events:PutEvents", "*", org))
    assert not policy.allows(text, SENDER, "events:PutEvents")
    assert not policy.allows(text, SENDER, "events:PutEvents", org_id="o-other")
    assert policy.allows(text, SENDER, "events:PutEvents", org_id="o-1234567890")


@pytest.mark.parametrize(
    "condition",
    [
        {"StringLike": {"aws:PrincipalOrgID": "o-*"}},  # another operator
        {"StringEquals": {"aws:SourceAccount": "999999999999"}},  # another key
        {"StringEquals": {"events:source": "com.example.only"}},
        {"StringEquals": {"aws:PrincipalOrgID": "o-1234567890"}, "Bool": {"aws:SecureTransport": "true"}},
    ],
)
def test_an_allow_whose_condition_cannot_be_evaluated_lets_nobody_in(condition):
    assert not policy.allows(document(allow(Condition=condition)), SENDER, "events:PutEvents", "o-1234567890")


def test_a_deny_whose_condition_cannot_be_evaluated_still_denies():
    deny = {**allow(), "Effect": "Deny", "Condition": {"StringEquals": {"events:source": "com.example"}}}
    assert policy.allows(document(allow()), SENDER, "events:PutEvents")
    assert not policy.allows(document(allow(), deny), SENDER, "events:PutEvents")


def test_a_deny_for_another_organization_does_not_apply():
    deny = {**allow(), "Effect": "Deny", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-other"}}}
    assert policy.allows(document(allow(), deny), SENDER, "events:PutEvents", org_id="o-mine")
