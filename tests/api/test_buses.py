"""Event buses through the real server with boto3: create, describe, list, update, delete, isolation."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.api.helpers import error_of, pages_of, put_policy


def test_default_bus_exists_on_first_use(events, account):
    bus = events.describe_event_bus()
    assert bus["Name"] == "default"
    assert bus["Arn"] == f"arn:aws:events:us-east-1:{account}:event-bus/default"
    assert "CreationTime" in bus


def test_create_describe_and_delete_a_custom_bus(events, account):
    created = events.create_event_bus(
        Name="orders",
        Description="order events",
        DeadLetterConfig={"Arn": f"arn:aws:sqs:us-east-1:{account}:dlq"},
        KmsKeyIdentifier="alias/mine",
        LogConfig={"IncludeDetail": "FULL", "Level": "INFO"},
        Tags=[{"Key": "team", "Value": "shop"}],
    )
    arn = f"arn:aws:events:us-east-1:{account}:event-bus/orders"
    assert created["EventBusArn"] == arn
    assert created["Description"] == "order events"
    bus = events.describe_event_bus(Name="orders")
    assert bus["Name"] == "orders" and bus["Arn"] == arn
    assert bus["DeadLetterConfig"] == {"Arn": f"arn:aws:sqs:us-east-1:{account}:dlq"}
    assert bus["LogConfig"] == {"IncludeDetail": "FULL", "Level": "INFO"}
    assert bus["KmsKeyIdentifier"] == "alias/mine"
    assert events.describe_event_bus(Name=arn)["Name"] == "orders"
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "shop"}]
    events.delete_event_bus(Name="orders")
    with pytest.raises(ClientError) as excinfo:
        events.describe_event_bus(Name="orders")
    assert error_of(excinfo)[0] == "ResourceNotFoundException"
    assert error_of(excinfo)[2] == 400
    events.delete_event_bus(Name="orders")  # deleting a missing bus succeeds


def test_create_twice_is_refused(events):
    events.create_event_bus(Name="twice")
    with pytest.raises(ClientError) as excinfo:
        events.create_event_bus(Name="twice")
    assert error_of(excinfo)[0] == "ResourceAlreadyExistsException"


@pytest.mark.parametrize(
    ("name", "code", "fragment"),
    [
        ("default", "ValidationException", "default"),
        ("aws.mine", "ValidationException", "EventBus name starting with 'aws.' is not valid."),
        ("with/slash", "ValidationException", "partner"),
        (
            "bad name!",
            "ValidationException",
            "Member must satisfy regular expression pattern: [/\\.\\-_A-Za-z0-9]+",
        ),
        ("x" * 257, "ValidationException", "Member must have length less than or equal to 256"),
    ],
)
def test_invalid_bus_names(events, name, code, fragment):
    with pytest.raises(ClientError) as excinfo:
        events.create_event_bus(Name=name)
    got_code, message, status = error_of(excinfo)
    assert (got_code, status) == (code, 400)
    assert fragment in message


def test_at_most_100_event_buses(events):
    for index in range(99):  # and the default bus
        events.create_event_bus(Name=f"bus-{index:02d}")
    with pytest.raises(ClientError) as excinfo:
        events.create_event_bus(Name="one-too-many")
    assert error_of(excinfo) == (
        "LimitExceededException",
        "The requested resource exceeds the maximum number allowed.",
        400,
    )
    events.delete_event_bus(Name="bus-00")
    events.create_event_bus(Name="one-too-many")


def test_default_bus_cannot_be_deleted(events):
    with pytest.raises(ClientError) as excinfo:
        events.delete_event_bus(Name="default")
    assert error_of(excinfo)[0] == "ValidationException"


def test_bus_with_rules_cannot_be_deleted(events):
    events.create_event_bus(Name="busy")
    events.put_rule(Name="r", EventBusName="busy", EventPattern='{"source": ["a"]}')
    with pytest.raises(ClientError) as excinfo:
        events.delete_event_bus(Name="busy")
    assert error_of(excinfo)[0] == "ValidationException"
    events.delete_rule(Name="r", EventBusName="busy")
    events.delete_event_bus(Name="busy")


def test_update_event_bus(events, account):
    events.create_event_bus(Name="upd", Description="before")
    updated = events.update_event_bus(
        Name="upd", Description="after", DeadLetterConfig={"Arn": f"arn:aws:sqs:us-east-1:{account}:q"}
    )
    assert updated["Description"] == "after"
    assert updated["Arn"].endswith(":event-bus/upd")
    bus = events.describe_event_bus(Name="upd")
    assert bus["Description"] == "after"
    assert bus["DeadLetterConfig"]["Arn"].endswith(":q")
    with pytest.raises(ClientError) as excinfo:
        events.update_event_bus(Name="nope", Description="x")
    assert error_of(excinfo)[0] == "ResourceNotFoundException"


def test_list_event_buses_pages_and_prefix(events):
    for index in range(7):
        events.create_event_bus(Name=f"page-{index}")
    events.create_event_bus(Name="other")
    pages = pages_of(events.list_event_buses, "EventBuses", NamePrefix="page-", Limit=3)
    seen = [bus["Name"] for page in pages for bus in page]
    assert seen == [f"page-{index}" for index in range(7)]
    assert len(pages) == 3
    everything = [bus["Name"] for bus in events.list_event_buses()["EventBuses"]]
    assert everything == ["default", "other"] + [f"page-{index}" for index in range(7)]


def test_forged_token_is_refused(events):
    with pytest.raises(ClientError) as excinfo:
        events.list_event_buses(NextToken="forged-token-forged-token")
    assert error_of(excinfo)[:1] == ("InvalidToken",)


def test_accounts_and_regions_are_isolated(client_for):
    alice, bob = client_for(), client_for()
    alice.create_event_bus(Name="private")
    assert [b["Name"] for b in bob.list_event_buses()["EventBuses"]] == ["default"]
    with pytest.raises(ClientError) as excinfo:
        bob.describe_event_bus(Name="private")
    assert error_of(excinfo)[0] == "ResourceNotFoundException"


def test_same_account_other_region_is_separate(server, account):
    east = server.client(account=account, region="us-east-1")
    west = server.client(account=account, region="eu-west-1")
    east.create_event_bus(Name="regional")
    assert [b["Name"] for b in west.list_event_buses()["EventBuses"]] == ["default"]
    assert west.describe_event_bus()["Arn"] == f"arn:aws:events:eu-west-1:{account}:event-bus/default"


def test_another_account_describes_a_bus_only_if_its_policy_allows_describe_event_bus(client_for):
    owner, other = client_for(), client_for()
    owner.create_event_bus(Name="shared")
    bus_arn = owner.describe_event_bus(Name="shared")["Arn"]
    other_account = other.describe_event_bus()["Arn"].split(":")[4]
    owner.put_permission(
        EventBusName="shared", Action="events:PutEvents", Principal=other_account, StatementId="put"
    )
    with pytest.raises(ClientError) as excinfo:  # putting events is all that permission grants
        other.describe_event_bus(Name=bus_arn)
    assert error_of(excinfo)[::2] == ("AccessDeniedException", 400)
    describe = {"Sid": "describe", "Effect": "Allow", "Principal": {"AWS": other_account},
                "Action": "events:DescribeEventBus", "Resource": bus_arn}  # fmt: skip
    put_policy(owner, describe, bus="shared")
    assert other.describe_event_bus(Name=bus_arn)["Name"] == "shared"


def test_another_accounts_missing_or_other_region_bus_is_access_denied_not_not_found(client_for):
    """The bus policy is asked first, as for rules: a bus of another account that does not exist, or is in
    another Region (which no bus policy reaches), is AccessDeniedException in AWS's words, not a
    ResourceNotFoundException telling what exists (nor does describing one make that account a default bus)."""
    owner, other = client_for(), client_for()
    owner_account = owner.describe_event_bus()["Arn"].split(":")[4]
    other_account = other.describe_event_bus()["Arn"].split(":")[4]
    for arn in (
        f"arn:aws:events:us-east-1:{owner_account}:event-bus/missing",
        f"arn:aws:events:eu-west-1:{owner_account}:event-bus/default",
    ):
        with pytest.raises(ClientError) as excinfo:
            other.describe_event_bus(Name=arn)
        code, message, status = error_of(excinfo)
        assert (code, status) == ("AccessDeniedException", 400)
        assert message.startswith(f"User: arn:aws:iam::{other_account}:root is not authorized to ")
