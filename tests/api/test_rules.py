"""Rules through the real server with boto3: PutRule, DescribeRule, ListRules, DeleteRule, Enable/Disable."""

from __future__ import annotations

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.api.delivery_helpers import entry, states
from tests.api.helpers import error_of, pages_of, put_policy
from tests.support import new_account

PATTERN = '{"source": ["com.example.orders"]}'


def test_put_rule_on_default_bus_and_describe(events, account):
    answer = events.put_rule(
        Name="orders",
        EventPattern=PATTERN,
        Description="orders only",
        RoleArn=f"arn:aws:iam::{account}:role/r",
    )
    assert answer["RuleArn"] == f"arn:aws:events:us-east-1:{account}:rule/orders"
    rule = events.describe_rule(Name="orders")
    assert rule["Name"] == "orders"
    assert rule["Arn"] == answer["RuleArn"]
    assert rule["EventPattern"] == PATTERN
    assert rule["State"] == "ENABLED"
    assert rule["Description"] == "orders only"
    assert rule["EventBusName"] == "default"
    assert rule["CreatedBy"] == account
    assert "ScheduleExpression" not in rule


def test_rule_arn_on_a_custom_bus(events, account):
    events.create_event_bus(Name="shop")
    arn = events.put_rule(Name="r1", EventBusName="shop", EventPattern=PATTERN)["RuleArn"]
    assert arn == f"arn:aws:events:us-east-1:{account}:rule/shop/r1"
    bus_arn = f"arn:aws:events:us-east-1:{account}:event-bus/shop"
    assert events.describe_rule(Name="r1", EventBusName=bus_arn)["Arn"] == arn


def test_put_rule_replaces_and_omitted_fields_become_null(events):
    events.put_rule(
        Name="r",
        EventPattern=PATTERN,
        Description="first",
        State="DISABLED",
        Tags=[{"Key": "a", "Value": "1"}],
    )
    events.put_rule(Name="r", EventPattern='{"source": ["b"]}', Tags=[{"Key": "b", "Value": "2"}])
    rule = events.describe_rule(Name="r")
    assert rule["EventPattern"] == '{"source": ["b"]}'
    assert rule["State"] == "ENABLED"
    assert "Description" not in rule
    tags = events.list_tags_for_resource(ResourceARN=rule["Arn"])["Tags"]
    assert tags == [{"Key": "a", "Value": "1"}]  # tags on update are ignored


def test_put_rule_needs_a_pattern_or_a_schedule(events):
    with pytest.raises(ClientError) as excinfo:
        events.put_rule(Name="empty")
    assert error_of(excinfo)[0] == "ValidationException"


def test_invalid_event_pattern_is_refused(events):
    with pytest.raises(ClientError) as excinfo:
        events.put_rule(Name="bad", EventPattern='{"source": "not-an-array"}')
    code, message, status = error_of(excinfo)
    assert (code, status) == ("InvalidEventPatternException", 400)
    assert message.startswith("Event pattern is not valid. Reason: ")
    with pytest.raises(ClientError) as excinfo:
        events.put_rule(Name="bad", EventPattern="[1, 2]")
    assert error_of(excinfo)[0] == "InvalidEventPatternException"


def test_schedule_expressions(events, account):
    assert events.put_rule(Name="every5", ScheduleExpression="rate(5 minutes)")["RuleArn"].endswith(
        ":rule/every5"
    )
    events.put_rule(Name="cron", ScheduleExpression="cron(0 12 * * ? *)")
    assert events.describe_rule(Name="cron")["ScheduleExpression"] == "cron(0 12 * * ? *)"
    for bad in [
        "rate(5 minute)",
        "rate(1 hours)",
        "rate(0 minutes)",
        "cron(0 12 * * *)",
        "cron(0 12 * * 1 *)",
        "every day",
    ]:
        with pytest.raises(ClientError) as excinfo:
            events.put_rule(Name="bad", ScheduleExpression=bad)
        assert error_of(excinfo)[0] == "ValidationException", bad
    events.create_event_bus(Name="custom")
    with pytest.raises(ClientError) as excinfo:
        events.put_rule(Name="s", EventBusName="custom", ScheduleExpression="rate(1 minute)")
    assert error_of(excinfo)[0] == "ValidationException"


def test_rule_on_missing_bus(events):
    with pytest.raises(ClientError) as excinfo:
        events.put_rule(Name="r", EventBusName="nope", EventPattern=PATTERN)
    assert error_of(excinfo)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        events.list_rules(EventBusName="nope")
    assert error_of(excinfo)[0] == "ResourceNotFoundException"


def test_describe_missing_rule(events):
    with pytest.raises(ClientError) as excinfo:
        events.describe_rule(Name="missing")
    code, message, _ = error_of(excinfo)
    assert code == "ResourceNotFoundException"
    assert message == "Rule missing does not exist on EventBus default."


def test_enable_and_disable(events):
    events.put_rule(Name="toggle", EventPattern=PATTERN)
    events.disable_rule(Name="toggle")
    assert events.describe_rule(Name="toggle")["State"] == "DISABLED"
    events.enable_rule(Name="toggle")
    assert events.describe_rule(Name="toggle")["State"] == "ENABLED"
    for call in (events.enable_rule, events.disable_rule):
        with pytest.raises(ClientError) as excinfo:
            call(Name="missing")
        assert error_of(excinfo)[0] == "ResourceNotFoundException"


def test_delete_rule(events):
    events.put_rule(Name="gone", EventPattern=PATTERN)
    events.put_targets(Rule="gone", Targets=[{"Id": "t", "Arn": "arn:aws:sqs:us-east-1:123456789012:q"}])
    with pytest.raises(ClientError) as excinfo:
        events.delete_rule(Name="gone")
    assert error_of(excinfo)[:1] == ("ValidationException",)
    assert "targets" in error_of(excinfo)[1]
    events.remove_targets(Rule="gone", Ids=["t"])
    events.delete_rule(Name="gone")
    with pytest.raises(ClientError):
        events.describe_rule(Name="gone")
    events.delete_rule(Name="gone")  # deleting a missing rule succeeds


def test_managed_rules_need_force(server, events, account):
    events.put_rule(Name="managed", EventPattern=PATTERN)
    httpx.post(
        server.url + "/_eventyard/managed-rules",
        json={
            "account": account,
            "region": "us-east-1",
            "rule": "managed",
            "managed_by": "svc.amazonaws.com",
        },
    ).raise_for_status()
    rule = events.describe_rule(Name="managed")
    assert rule["ManagedBy"] == "svc.amazonaws.com"
    for attempt in (
        lambda: events.delete_rule(Name="managed"),
        lambda: events.disable_rule(Name="managed"),
        lambda: events.put_rule(Name="managed", EventPattern=PATTERN),
        lambda: events.put_targets(Rule="managed", Targets=[{"Id": "t", "Arn": "arn:aws:sqs:us-east-1:1:q"}]),
        lambda: events.tag_resource(ResourceARN=rule["Arn"], Tags=[{"Key": "k", "Value": "v"}]),
        lambda: events.untag_resource(ResourceARN=rule["Arn"], TagKeys=["k"]),
    ):
        with pytest.raises(ClientError) as excinfo:
            attempt()
        assert error_of(excinfo)[0] == "ManagedRuleException"
    assert events.list_tags_for_resource(ResourceARN=rule["Arn"])["Tags"] == []  # reading them is fine
    events.delete_rule(Name="managed", Force=True)
    with pytest.raises(ClientError):
        events.describe_rule(Name="managed")


def test_list_rules_pages_prefix_and_bus(events):
    events.create_event_bus(Name="b2")
    for index in range(5):
        events.put_rule(Name=f"alpha-{index}", EventPattern=PATTERN)
    events.put_rule(Name="beta", EventPattern=PATTERN)
    events.put_rule(Name="alpha-on-b2", EventBusName="b2", EventPattern=PATTERN)
    pages = pages_of(events.list_rules, "Rules", NamePrefix="alpha", Limit=2)
    names = [rule["Name"] for page in pages for rule in page]
    assert names == [f"alpha-{index}" for index in range(5)]
    assert len(pages) == 3
    assert [r["Name"] for r in events.list_rules(EventBusName="b2")["Rules"]] == ["alpha-on-b2"]
    listed = events.list_rules(NamePrefix="beta")["Rules"][0]
    assert listed["EventPattern"] == PATTERN and listed["State"] == "ENABLED"


def test_list_rule_names_by_target(events):
    queue = "arn:aws:sqs:us-east-1:123456789012:shared"
    for name in ("a", "b", "c"):
        events.put_rule(Name=name, EventPattern=PATTERN)
    events.put_targets(Rule="a", Targets=[{"Id": "1", "Arn": queue}])
    events.put_targets(Rule="c", Targets=[{"Id": "1", "Arn": queue}])
    events.put_targets(Rule="b", Targets=[{"Id": "1", "Arn": queue + "-other"}])
    assert events.list_rule_names_by_target(TargetArn=queue)["RuleNames"] == ["a", "c"]
    first = events.list_rule_names_by_target(TargetArn=queue, Limit=1)
    assert first["RuleNames"] == ["a"]
    second = events.list_rule_names_by_target(TargetArn=queue, Limit=1, NextToken=first["NextToken"])
    assert second["RuleNames"] == ["c"] and "NextToken" not in second


def test_rule_limit_per_bus(events):
    events.create_event_bus(Name="full")
    for index in range(300):
        events.put_rule(Name=f"r{index:03d}", EventBusName="full", EventPattern=PATTERN)
    with pytest.raises(ClientError) as excinfo:
        events.put_rule(Name="one-too-many", EventBusName="full", EventPattern=PATTERN)
    assert error_of(excinfo) == (
        "LimitExceededException",
        "The requested resource exceeds the maximum number allowed.",
        400,
    )
    events.put_rule(Name="r000", EventBusName="full", EventPattern='{"source": ["x"]}')  # replacing is fine


def test_another_accounts_rules_are_neither_read_nor_changed(client_for):
    """Managing rules on another account's bus needs its bus policy to allow it; without one, every rule and
    target operation by bus ARN answers AccessDeniedException, reads included."""
    owner, other = client_for(), client_for()
    owner.create_event_bus(Name="shop")
    bus_arn = owner.describe_event_bus(Name="shop")["Arn"]
    owner.put_rule(Name="r", EventBusName="shop", EventPattern=PATTERN)
    queue = "arn:aws:sqs:us-east-1:123456789012:q"
    owner.put_targets(Rule="r", EventBusName="shop", Targets=[{"Id": "t", "Arn": queue}])
    for attempt in (
        lambda: other.describe_rule(Name="r", EventBusName=bus_arn),
        lambda: other.list_rules(EventBusName=bus_arn),
        lambda: other.list_targets_by_rule(Rule="r", EventBusName=bus_arn),
        lambda: other.list_rule_names_by_target(TargetArn=queue, EventBusName=bus_arn),
        lambda: other.put_rule(Name="r", EventBusName=bus_arn, EventPattern=PATTERN),
        lambda: other.disable_rule(Name="r", EventBusName=bus_arn),
        lambda: other.put_targets(Rule="r", EventBusName=bus_arn, Targets=[{"Id": "u", "Arn": queue}]),
        lambda: other.remove_targets(Rule="r", EventBusName=bus_arn, Ids=["t"]),
        lambda: other.delete_rule(Name="r", EventBusName=bus_arn),
    ):
        with pytest.raises(ClientError) as excinfo:
            attempt()
        assert error_of(excinfo)[::2] == ("AccessDeniedException", 400)
    assert owner.describe_rule(Name="r", EventBusName="shop")["State"] == "ENABLED"
    assert [t["Id"] for t in owner.list_targets_by_rule(Rule="r", EventBusName="shop")["Targets"]] == ["t"]


def test_a_bus_policy_lets_another_account_manage_the_rules_it_creates(client_for, server):
    """The User Guide's "restrict updates" example: account B may create rules on A's central bus for one
    source, and change only the rules it created (events:creatorAccount is ${aws:PrincipalAccount})."""
    a, b, c = new_account(), new_account(), new_account()
    owner, manager, stranger = client_for(a), client_for(b), client_for(c)
    owner.create_event_bus(Name="central")
    owner.create_event_bus(Name="archive")
    bus_arn = f"arn:aws:events:us-east-1:{a}:event-bus/central"
    statement = {
        "Sid": "InvoiceProcessingRuleCreation",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{b}:root"},
        "Action": [
            "events:PutRule", "events:DeleteRule", "events:DescribeRule", "events:DisableRule",
            "events:EnableRule", "events:PutTargets", "events:RemoveTargets",
        ],
        "Resource": f"arn:aws:events:us-east-1:{a}:rule/central/*",
        "Condition": {
            "StringEqualsIfExists": {
                "events:creatorAccount": "${aws:PrincipalAccount}",
                "events:source": "com.exampleCorp.webStore",
            }
        },
    }  # fmt: skip
    put_policy(owner, statement, bus="central")
    web_store = '{"source": ["com.exampleCorp.webStore"]}'

    created = manager.put_rule(
        Name="invoices", EventBusName=bus_arn, EventPattern=web_store, Tags=[{"Key": "team", "Value": "b"}]
    )
    rule_arn = f"arn:aws:events:us-east-1:{a}:rule/central/invoices"
    assert created["RuleArn"] == rule_arn  # the bus owner's rule, created by B
    assert manager.describe_rule(Name="invoices", EventBusName=bus_arn)["CreatedBy"] == b
    assert owner.describe_rule(Name="invoices", EventBusName="central")["CreatedBy"] == b
    assert owner.list_tags_for_resource(ResourceARN=rule_arn)["Tags"] == [{"Key": "team", "Value": "b"}]
    archive = f"arn:aws:events:us-east-1:{a}:event-bus/archive"
    manager.put_targets(Rule="invoices", EventBusName=bus_arn, Targets=[{"Id": "keep", "Arn": archive}])
    manager.disable_rule(Name="invoices", EventBusName=bus_arn)
    manager.enable_rule(Name="invoices", EventBusName=bus_arn)

    # The rule works on A's bus like A's own.
    put = owner.put_events(Entries=[entry(EventBusName="central", Source="com.exampleCorp.webStore")])
    assert states(server, put["Entries"][0]["EventId"]) == [("central", "keep", "delivered")]

    def denied(call, **params) -> str:
        with pytest.raises(ClientError) as excinfo:
            call(**params)
        code, message, status = error_of(excinfo)
        assert (code, status) == ("AccessDeniedException", 400)
        return message

    # Another source, A's own rule, a read the policy does not grant, a third account: refused.
    message = denied(manager.put_rule, Name="other", EventBusName=bus_arn, EventPattern='{"source": ["x"]}')
    assert message == (
        f"User: arn:aws:iam::{b}:root is not authorized to perform: events:PutRule on resource: "
        f"arn:aws:events:us-east-1:{a}:rule/central/other because no resource-based policy allows the "
        "events:PutRule action"
    )
    owner.put_rule(Name="a-owns", EventBusName="central", EventPattern=web_store)
    denied(manager.disable_rule, Name="a-owns", EventBusName=bus_arn)
    denied(manager.put_rule, Name="a-owns", EventBusName=bus_arn, EventPattern=web_store)
    denied(manager.list_rules, EventBusName=bus_arn)
    denied(manager.list_targets_by_rule, Rule="invoices", EventBusName=bus_arn)
    denied(manager.tag_resource, ResourceARN=rule_arn, Tags=[{"Key": "k", "Value": "v"}])
    denied(stranger.describe_rule, Name="invoices", EventBusName=bus_arn)
    assert owner.describe_rule(Name="a-owns", EventBusName="central")["State"] == "ENABLED"

    manager.remove_targets(Rule="invoices", EventBusName=bus_arn, Ids=["keep"])
    manager.delete_rule(Name="invoices", EventBusName=bus_arn)
    assert [r["Name"] for r in owner.list_rules(EventBusName="central")["Rules"]] == ["a-owns"]


def test_tags_of_a_rule_on_another_accounts_bus_follow_its_policy(client_for):
    a, b = new_account(), new_account()
    owner, manager = client_for(a), client_for(b)
    owner.create_event_bus(Name="central")
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": b},
        "Action": ["events:PutRule", "events:TagResource", "events:ListTagsForResource"],
        "Resource": f"arn:aws:events:us-east-1:{a}:rule/central/*",
        "Condition": {"StringEqualsIfExists": {"events:creatorAccount": "${aws:PrincipalAccount}"}},
    }
    put_policy(owner, statement, bus="central")
    bus_arn = f"arn:aws:events:us-east-1:{a}:event-bus/central"
    rule_arn = manager.put_rule(Name="mine", EventBusName=bus_arn, EventPattern=PATTERN)["RuleArn"]
    manager.tag_resource(ResourceARN=rule_arn, Tags=[{"Key": "team", "Value": "b"}])
    expected = [{"Key": "team", "Value": "b"}]
    assert manager.list_tags_for_resource(ResourceARN=rule_arn)["Tags"] == expected
    assert owner.list_tags_for_resource(ResourceARN=rule_arn)["Tags"] == expected  # kept by the owner
    owner.untag_resource(ResourceARN=rule_arn, TagKeys=["team"])
    assert manager.list_tags_for_resource(ResourceARN=rule_arn)["Tags"] == []
    for call in (
        lambda: manager.untag_resource(ResourceARN=rule_arn, TagKeys=["team"]),  # not granted
        lambda: manager.tag_resource(ResourceARN=bus_arn, Tags=[{"Key": "k", "Value": "v"}]),  # the bus
    ):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_of(excinfo)[::2] == ("AccessDeniedException", 400)
    owner.put_rule(Name="theirs", EventBusName="central", EventPattern=PATTERN)
    with pytest.raises(ClientError) as excinfo:
        manager.tag_resource(
            ResourceARN=f"arn:aws:events:us-east-1:{a}:rule/central/theirs", Tags=[{"Key": "k", "Value": "v"}]
        )
    assert error_of(excinfo)[0] == "AccessDeniedException"  # created by A, not by B
