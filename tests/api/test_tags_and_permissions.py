"""Tags on buses and rules; event bus resource policies with PutPermission and RemovePermission."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.api.helpers import error_of, refused


def tag_calls(client, arn: str) -> tuple:
    """TagResource, UntagResource and ListTagsForResource of `arn`, as calls to make."""
    return (
        lambda: client.tag_resource(ResourceARN=arn, Tags=[{"Key": "a", "Value": "1"}]),
        lambda: client.untag_resource(ResourceARN=arn, TagKeys=["a"]),
        lambda: client.list_tags_for_resource(ResourceARN=arn),
    )


def test_tag_untag_and_list(events, account):
    events.create_event_bus(Name="tagged")
    arn = f"arn:aws:events:us-east-1:{account}:event-bus/tagged"
    events.tag_resource(ResourceARN=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    events.tag_resource(ResourceARN=arn, Tags=[{"Key": "a", "Value": "3"}])
    assert sorted(events.list_tags_for_resource(ResourceARN=arn)["Tags"], key=lambda t: t["Key"]) == [
        {"Key": "a", "Value": "3"},
        {"Key": "b", "Value": "2"},
    ]
    events.untag_resource(ResourceARN=arn, TagKeys=["a"])
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    rule_arn = events.put_rule(Name="r", EventBusName="tagged", EventPattern='{"source": ["x"]}')["RuleArn"]
    events.tag_resource(ResourceARN=rule_arn, Tags=[{"Key": "k", "Value": "v"}])
    assert events.list_tags_for_resource(ResourceARN=rule_arn)["Tags"] == [{"Key": "k", "Value": "v"}]
    default_arn = f"arn:aws:events:us-east-1:{account}:event-bus/default"
    events.tag_resource(ResourceARN=default_arn, Tags=[{"Key": "d", "Value": ""}])
    assert events.list_tags_for_resource(ResourceARN=default_arn)["Tags"] == [{"Key": "d", "Value": ""}]


@pytest.mark.parametrize(
    "path",
    ["rule/nope", "rule/nope/nope", "event-bus/nope", "rule/no\x00pe", "event-bus/no pe", "rule/bad bus/r"],
)
def test_tags_of_missing_resources(events, account, path):
    missing = f"arn:aws:events:us-east-1:{account}:{path}"  # names that were never (or cannot be) created
    assert [refused(call)[0] for call in tag_calls(events, missing)] == ["ResourceNotFoundException"] * 3


@pytest.mark.parametrize("path", ["rule/no\x00pe", "rule/no\x00pe/r", "event-bus/no\x00pe"])
def test_tags_of_another_accounts_impossible_names(events, account, client_for, path):
    """Names that cannot exist in another account are refused as any of its resources without a policy
    allowing it is: AccessDeniedException on both stores (PostgreSQL cannot even be asked about a NUL)."""
    other = client_for()
    arn = f"arn:aws:events:us-east-1:{account}:{path}"
    assert [refused(call)[0] for call in tag_calls(other, arn)] == ["AccessDeniedException"] * 3


def test_tag_limit(events, account):
    arn = f"arn:aws:events:us-east-1:{account}:event-bus/default"
    events.tag_resource(ResourceARN=arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    with pytest.raises(ClientError) as excinfo:
        events.tag_resource(ResourceARN=arn, Tags=[{"Key": "one-more", "Value": "v"}])
    assert error_of(excinfo)[0] in ("LimitExceededException", "ValidationException")


def test_a_failed_first_request_leaves_the_default_bus_usable(events, account):
    """An account's first request creates its default bus; if that request fails, the creation is rolled
    back, and the next request must create the bus again rather than take it for made."""
    arn = f"arn:aws:events:us-east-1:{account}:event-bus/default"
    with pytest.raises(ClientError) as excinfo:
        events.tag_resource(ResourceARN=arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
    assert error_of(excinfo)[0] == "LimitExceededException"
    assert events.describe_event_bus()["Arn"] == arn
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == []


def test_put_permission_statements(events, account):
    events.put_permission(Action="events:PutEvents", Principal="111122223333", StatementId="allow-one")
    events.put_permission(
        Action="events:PutEvents",
        Principal="*",
        StatementId="org",
        Condition={"Type": "StringEquals", "Key": "aws:PrincipalOrgID", "Value": "o-1234567890"},
    )
    policy = json.loads(events.describe_event_bus()["Policy"])
    assert policy["Version"] == "2012-10-17"
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["allow-one"] == {
        "Sid": "allow-one",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": "events:PutEvents",
        "Resource": f"arn:aws:events:us-east-1:{account}:event-bus/default",
    }
    assert by_sid["org"]["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-1234567890"}}
    events.remove_permission(StatementId="allow-one")
    policy = json.loads(events.describe_event_bus()["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["org"]
    with pytest.raises(ClientError) as excinfo:
        events.remove_permission(StatementId="allow-one")
    assert error_of(excinfo)[0] == "ResourceNotFoundException"
    events.remove_permission(RemoveAllPermissions=True)
    assert "Policy" not in events.describe_event_bus()


def test_put_whole_policy_and_its_length_limit(events, account):
    events.create_event_bus(Name="p")
    arn = f"arn:aws:events:us-east-1:{account}:event-bus/p"
    policy = {"Version": "2012-10-17", "Statement": [{"Sid": "s", "Effect": "Allow", "Principal": "*",
              "Action": "events:PutEvents", "Resource": arn}]}  # fmt: skip
    events.put_permission(EventBusName="p", Policy=json.dumps(policy))
    assert json.loads(events.describe_event_bus(Name="p")["Policy"]) == policy
    policy["Statement"][0]["Sid"] = "x" * 10300
    with pytest.raises(ClientError) as excinfo:
        events.put_permission(EventBusName="p", Policy=json.dumps(policy))
    assert error_of(excinfo)[0] == "PolicyLengthExceededException"


@pytest.mark.parametrize(
    "policy",
    [
        {"Statement": [1]},
        {"Statement": ["x"]},
        {"Statement": "x"},
        {"Statement": [{"Sid": "s", "Condition": "x"}]},
        {"Statement": [{"Sid": "s", "Condition": {"StringEquals": "x"}}]},
        [],
    ],
)
def test_a_policy_must_be_a_policy_document(events, policy):
    with pytest.raises(ClientError) as excinfo:
        events.put_permission(Policy=json.dumps(policy))
    assert error_of(excinfo)[:2] == (
        "ValidationException",
        "Parameter Policy is not valid: it must be a JSON policy document.",
    )
    assert "Policy" not in events.describe_event_bus()  # nothing stored, so later calls keep working
    events.put_permission(Action="events:PutEvents", Principal="111111111111", StatementId="s")


def test_a_policy_with_a_single_statement_object(events, account):
    one = {"Sid": "one", "Effect": "Allow", "Principal": "*", "Action": "events:PutEvents",
           "Resource": f"arn:aws:events:us-east-1:{account}:event-bus/default"}  # fmt: skip
    events.put_permission(Policy=json.dumps({"Version": "2012-10-17", "Statement": one}))
    events.put_permission(Action="events:PutEvents", Principal="111111111111", StatementId="two")
    statements = json.loads(events.describe_event_bus()["Policy"])["Statement"]
    assert [s["Sid"] for s in statements] == ["one", "two"]
    events.remove_permission(StatementId="one")
    events.remove_permission(StatementId="two")
    assert "Policy" not in events.describe_event_bus()


def test_permission_errors(events):
    with pytest.raises(ClientError) as excinfo:
        events.put_permission(
            EventBusName="missing", Action="events:PutEvents", Principal="*", StatementId="s"
        )
    assert error_of(excinfo)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        events.put_permission(Action="events:PutEvents", StatementId="s")
    assert error_of(excinfo)[0] == "ValidationException"
    with pytest.raises(ClientError) as excinfo:
        events.remove_permission(StatementId="none")
    assert error_of(excinfo)[0] == "ResourceNotFoundException"
