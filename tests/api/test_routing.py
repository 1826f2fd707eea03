"""Routing through the real server: events match the enabled rules of their bus, and event bus targets put
them on other buses (same account, another Region, another account by policy), as EventBridge does.

What arrived where is read from the operator endpoint `GET /_eventyard/deliveries?event_id=...`, which shows
every bus an event reached and every delivery made for it.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.api.delivery_helpers import deliveries_of, entry, events_on, settled, states
from tests.api.helpers import put_policy
from tests.support import new_account


def bus_arn(account: str, name: str, region: str = "us-east-1") -> str:
    return f"arn:aws:events:{region}:{account}:event-bus/{name}"


def forward(events, rule: str, pattern: dict, to: str, bus: str = "default", **target) -> None:
    events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": f"{rule}-t", "Arn": to, **target}])


def put(events, **fields) -> str:
    result = events.put_events(Entries=[entry(**fields)])
    assert result["FailedEntryCount"] == 0, result
    return str(result["Entries"][0]["EventId"])


def sender_and_central(client_for) -> tuple[str, Any, Any, str]:
    """Two new accounts: (the sender's account, its client, the receiver's client, the ARN of the receiver's
    new bus `central`)."""
    sender_account, receiver_account = new_account(), new_account()
    receiver = client_for(receiver_account)
    receiver.create_event_bus(Name="central")
    return sender_account, client_for(sender_account), receiver, bus_arn(receiver_account, "central")


def test_an_event_goes_to_the_targets_of_the_rules_it_matches(events, server, account):
    for name in ("shop", "audit", "other"):
        events.create_event_bus(Name=name)
    forward(events, "orders", {"source": ["com.example.shop"]}, bus_arn(account, "shop"))
    forward(events, "placed", {"detail-type": [{"prefix": "Order"}]}, bus_arn(account, "audit"))
    forward(events, "elsewhere", {"source": ["com.example.other"]}, bus_arn(account, "other"))
    event_id = put(events)
    assert settled(server, event_id, 2) == [
        ("default", "orders-t", "delivered"),
        ("default", "placed-t", "delivered"),
    ]
    # Stored where it was put; the copies on `shop` and `audit` have no targets there, so only the delivery
    # records say where they went.
    assert set(events_on(server, event_id)) == {bus_arn(account, "default")}
    record = next(d for d in deliveries_of(server, event_id)["deliveries"] if d["target_id"] == "orders-t")
    assert record["rule"] == f"arn:aws:events:us-east-1:{account}:rule/orders"
    assert record["target_arn"] == bus_arn(account, "shop")
    assert (record["attempts"], record["last_error"]) == (1, None)


def test_one_delivery_per_target_of_a_rule(events, server, account):
    events.create_event_bus(Name="a")
    events.create_event_bus(Name="b")
    events.put_rule(Name="fan", EventPattern='{"source": ["com.example.shop"]}')
    events.put_targets(
        Rule="fan",
        Targets=[{"Id": "to-a", "Arn": bus_arn(account, "a")}, {"Id": "to-b", "Arn": bus_arn(account, "b")}],
    )
    event_id = put(events)
    assert settled(server, event_id, 2) == [
        ("default", "to-a", "delivered"),
        ("default", "to-b", "delivered"),
    ]


def test_disabled_rules_do_not_match_and_changes_apply_at_once(events, server, account):
    events.create_event_bus(Name="sink")
    forward(events, "r", {"source": ["com.example.shop"]}, bus_arn(account, "sink"))
    events.disable_rule(Name="r")
    assert states(server, put(events)) == []
    events.enable_rule(Name="r")
    assert settled(server, put(events), 1) == [("default", "r-t", "delivered")]
    events.put_rule(Name="r", EventPattern='{"source": ["com.example.other"]}')  # replaced pattern
    assert states(server, put(events)) == []
    assert settled(server, put(events, Source="com.example.other"), 1) == [("default", "r-t", "delivered")]
    events.remove_targets(Rule="r", Ids=["r-t"])
    assert states(server, put(events, Source="com.example.other")) == []


def test_rules_of_a_custom_bus_see_only_its_events(events, server, account):
    events.create_event_bus(Name="orders")
    events.create_event_bus(Name="sink")
    forward(events, "on-orders", {"source": ["com.example.shop"]}, bus_arn(account, "sink"), bus="orders")
    assert states(server, put(events)) == []  # the default bus has no rule
    event_id = put(events, EventBusName="orders")
    assert settled(server, event_id, 1) == [("orders", "on-orders-t", "delivered")]


def test_buses_forwarding_to_each_other_do_not_loop(events, server, account):
    events.create_event_bus(Name="ping")
    events.create_event_bus(Name="pong")
    forward(events, "to-pong", {"source": ["com.example.shop"]}, bus_arn(account, "pong"), bus="ping")
    forward(events, "to-ping", {"source": ["com.example.shop"]}, bus_arn(account, "ping"), bus="pong")
    event_id = put(events, EventBusName="ping")
    # ping -> pong -> ping, where the rule that already forwarded it does not run again.
    assert settled(server, event_id, 2) == [
        ("ping", "to-pong-t", "delivered"),
        ("pong", "to-ping-t", "delivered"),
    ]
    # Stored on ping (put there) and on pong (it has a target there), not again on ping: nothing to do there.
    copies = events_on(server, event_id)
    assert set(copies) == {bus_arn(account, "ping"), bus_arn(account, "pong")}
    assert copies[bus_arn(account, "pong")] == copies[bus_arn(account, "ping")]  # the same event, unchanged


def test_a_rule_targeting_its_own_bus_is_a_loop_and_fails(events, server, account):
    forward(events, "self", {"source": ["com.example.shop"]}, bus_arn(account, "default"))
    event_id = put(events)
    assert settled(server, event_id, 1) == [("default", "self-t", "dropped")]
    (record,) = deliveries_of(server, event_id)["deliveries"]
    assert record["last_error"].startswith("NO_PERMISSIONS: ") and "loop" in record["last_error"]


def test_a_bus_in_another_region_of_the_same_account(events, server, account, client_for):
    europe = client_for(account, region="eu-west-1")
    europe.create_event_bus(Name="europe")
    europe.create_event_bus(Name="archive")
    forward(events, "to-eu", {"source": ["com.example.shop"]}, bus_arn(account, "europe", "eu-west-1"))
    forward(
        europe, "on", {"source": ["com.example.shop"]}, bus_arn(account, "archive", "eu-west-1"), "europe"
    )
    event_id = put(events)
    assert settled(server, event_id, 2) == [
        ("default", "to-eu-t", "delivered"),
        ("europe", "on-t", "delivered"),
    ]
    copy = events_on(server, event_id)[bus_arn(account, "europe", "eu-west-1")]
    assert (copy["account"], copy["region"]) == (account, "us-east-1")  # as sent


def test_cross_account_delivery_needs_the_receiving_bus_policy(client_for, server):
    sender_account, sender, receiver, central = sender_and_central(client_for)
    forward(sender, "share", {"source": ["com.example.shop"]}, central)

    refused = put(sender)
    assert settled(server, refused, 1) == [("default", "share-t", "dropped")]
    (record,) = deliveries_of(server, refused)["deliveries"]
    assert record["last_error"].startswith("NO_PERMISSIONS: ")
    assert record["attempts"] == 1  # not retriable: no retries

    receiver.put_permission(
        EventBusName="central", Action="events:PutEvents", Principal=sender_account, StatementId="sender"
    )
    allowed = put(sender)
    assert settled(server, allowed, 1) == [("default", "share-t", "delivered")]
    copy = events_on(server, allowed)[central]
    assert copy["account"] == sender_account  # the event keeps the sender's account


def test_a_receiving_bus_policy_may_name_the_forwarding_rules(client_for, server):
    """aws:SourceArn is the forwarding rule (the User Guide's "send events from specific rules" example)."""
    sender_account, sender, receiver, central = sender_and_central(client_for)
    forward(sender, "chosen", {"source": ["com.example.shop"]}, central)
    forward(sender, "other", {"source": ["com.example.shop"]}, central)
    statement = {
        "Sid": "AllowSpecificRules",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{sender_account}:root"},
        "Action": "events:PutEvents",
        "Resource": central,
        "Condition": {
            "ArnEquals": {"aws:SourceArn": f"arn:aws:events:us-east-1:{sender_account}:rule/chosen"},
            "StringEquals": {"aws:SourceAccount": sender_account},
        },
    }
    put_policy(receiver, statement, bus="central")
    event_id = put(sender)
    assert settled(server, event_id, 2) == [
        ("default", "chosen-t", "delivered"),
        ("default", "other-t", "dropped"),
    ]
    other = next(d for d in deliveries_of(server, event_id)["deliveries"] if d["target_id"] == "other-t")
    assert other["last_error"].startswith("NO_PERMISSIONS: ")
    assert events_on(server, event_id)[central]["account"] == sender_account


def test_events_from_another_account_are_not_forwarded_to_a_third(client_for, server):
    a, b, c = new_account(), new_account(), new_account()
    first, second, third = client_for(a), client_for(b), client_for(c)
    second.create_event_bus(Name="hub")
    third.create_event_bus(Name="far")
    for client, bus in ((second, "hub"), (third, "far")):
        client.put_permission(EventBusName=bus, Action="events:PutEvents", Principal="*", StatementId="all")
    forward(first, "to-b", {"source": ["com.example.shop"]}, bus_arn(b, "hub"))
    second.create_event_bus(Name="local")
    forward(second, "to-c", {"source": ["com.example.shop"]}, bus_arn(c, "far"), bus="hub")
    forward(second, "to-local", {"source": ["com.example.shop"]}, bus_arn(b, "local"), bus="hub")
    event_id = put(first)
    assert settled(server, event_id, 3) == [
        ("default", "to-b-t", "delivered"),
        ("hub", "to-c-t", "dropped"),  # A's event, routed by B to C: not sent
        ("hub", "to-local-t", "delivered"),  # B may route it within its own account
    ]
    record = next(d for d in deliveries_of(server, event_id)["deliveries"] if d["target_id"] == "to-c-t")
    assert "third account" in record["last_error"]
    assert bus_arn(c, "far") not in events_on(server, event_id)


def test_metrics_count_matches_of_a_forwarded_copy_that_goes_no_further(events, server, account):
    """The copy on the second bus matches a rule there that has no targets: it is not stored, but the match
    counts, as in AWS's MatchedEvents and TriggeredRules."""
    events.create_event_bus(Name="quiet")
    forward(events, "to-quiet", {"source": ["com.example.shop"]}, bus_arn(account, "quiet"))
    events.put_rule(Name="idle", EventBusName="quiet", EventPattern='{"source": ["com.example.shop"]}')
    settled(server, put(events), 1)
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    labels = f'account="{account}",event_bus="quiet",region="us-east-1"'
    assert f"eventyard_matched_events_total{{{labels}}} 1.0" in text
    assert f'eventyard_triggered_rules_total{{{labels},rule="idle"}} 1.0' in text


def test_metrics_count_rules_and_invocations(events, server, account):
    events.create_event_bus(Name="sink")
    forward(events, "counted", {"source": ["com.example.shop"]}, bus_arn(account, "sink"))
    for _ in range(3):
        settled(server, put(events), 1)
    events.put_events(Entries=[entry(), {"Source": "x"}])
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    labels = f'account="{account}",event_bus="default",region="us-east-1"'
    assert f'eventyard_triggered_rules_total{{{labels},rule="counted"}} 4.0' in text
    assert f"eventyard_matched_events_total{{{labels}}} 4.0" in text
    assert f'eventyard_invocations_total{{{labels},rule="counted"}} ' in text
    assert (
        f'eventyard_put_events_failed_entries_total{{account="{account}",error_code="InvalidArgument",region="us-east-1"}} 1.0'
        in text
    )
    assert f"eventyard_put_events_entries_total{{{labels}}} 4.0" in text


def test_the_deliveries_endpoint_wants_an_event_id(server):
    missing = httpx.get(f"{server.url}/_eventyard/deliveries", timeout=10)
    assert missing.status_code == 400 and missing.json()["__type"] == "ValidationException"
    unknown = httpx.get(
        f"{server.url}/_eventyard/deliveries", params={"event_id": "no-such-event"}, timeout=10
    )
    assert unknown.status_code == 404 and unknown.json()["__type"] == "ResourceNotFoundException"
    metrics = httpx.get(f"{server.url}/metrics", timeout=10)
    assert metrics.headers["content-type"].startswith("text/plain")
