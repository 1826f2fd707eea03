"""PutEvents through the real server with boto3: per-entry results, AWS's entry errors, sizes, buses, envelopes."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import orjson
import pytest
from botocore.exceptions import ClientError

from tests.api.delivery_helpers import deliveries_of, entry, events_on
from tests.api.helpers import error_of, put_policy
from tests.support import ServerProcess, api_destination, new_account

SOURCE_REQUIRED = "Parameter Source is not valid. Reason: Source is a required argument."
DETAIL_TYPE_REQUIRED = "Parameter DetailType is not valid. Reason: DetailType is a required argument."
DETAIL_REQUIRED = "Parameter Detail is not valid. Reason: Detail is a required argument."


def nested(levels: int) -> str:
    """A Detail nested `levels` deep: objects, each the `a` of the one around it."""
    return '{"a":' * (levels - 1) + '{"a":1}' + "}" * (levels - 1)


def test_each_entry_gets_its_result_in_request_order(events):
    result = events.put_events(
        Entries=[entry(), {"DetailType": "x", "Detail": "{}"}, entry(detail="{}"), entry(Source="aws.s3")]
    )
    assert result["FailedEntryCount"] == 2
    first, second, third, fourth = result["Entries"]
    assert set(first) == {"EventId"} and set(third) == {"EventId"}
    assert first["EventId"] != third["EventId"]
    assert second == {"ErrorCode": "InvalidArgument", "ErrorMessage": SOURCE_REQUIRED}
    assert fourth == {
        "ErrorCode": "NotAuthorizedForSourceException",
        "ErrorMessage": "Not authorized for the source.",
    }


@pytest.mark.parametrize(
    ("fields", "code", "message"),
    [
        ({"Source": None}, "InvalidArgument", SOURCE_REQUIRED),
        ({"Source": ""}, "InvalidArgument", SOURCE_REQUIRED),
        ({"DetailType": None}, "InvalidArgument", DETAIL_TYPE_REQUIRED),
        ({"DetailType": ""}, "InvalidArgument", DETAIL_TYPE_REQUIRED),
        ({"Detail": None}, "InvalidArgument", DETAIL_REQUIRED),
        ({"Detail": ""}, "InvalidArgument", DETAIL_REQUIRED),
        ({"Detail": "{not json"}, "MalformedDetail", "Detail is malformed."),
        ({"Detail": "[1, 2]"}, "MalformedDetail", "Detail is malformed."),
        ({"Detail": '"text"'}, "MalformedDetail", "Detail is malformed."),
        ({"Detail": "42"}, "MalformedDetail", "Detail is malformed."),
        ({"Detail": '{"n": 9223372036854775808}'}, "MalformedDetail", "Detail is malformed."),
        ({"Detail": '{"n": NaN}'}, "MalformedDetail", "Detail is malformed."),
        ({"Detail": nested(1001)}, "MalformedDetail", "Detail is malformed."),  # deeper than AWS reads
        ({"Detail": nested(1025)}, "MalformedDetail", "Detail is malformed."),  # ... and than orjson reads
        ({"Source": "aws.events"}, "NotAuthorizedForSourceException", "Not authorized for the source."),
        (
            {"Source": "aws.partner/x.com/1/y"},
            "NotAuthorizedForSourceException",
            "Not authorized for the source.",
        ),
    ],
)
def test_entry_errors_name_aws_codes_and_messages(events, fields, code, message):
    bad = {key: value for key, value in {**entry(), **fields}.items() if value is not None}
    result = events.put_events(Entries=[entry(), bad])
    assert result["FailedEntryCount"] == 1
    assert result["Entries"][1] == {"ErrorCode": code, "ErrorMessage": message}
    assert "EventId" in result["Entries"][0]  # processing goes on around a failed entry


def test_a_detail_nested_as_deep_as_aws_reads_is_matched_stored_and_delivered(
    events, server, account, receiver
):
    events.create_event_bus(Name="deep-sink")
    hook = api_destination(events, f"{receiver.url}/deep/{account}")
    events.put_rule(
        Name="deep",
        EventPattern='{"source": ["com.example.shop"], "detail": {"order": [7]}}',
    )
    shaped = {"InputPathsMap": {"deep": "$.detail.a"}, "InputTemplate": '{"deep": <deep>}'}
    events.put_targets(
        Rule="deep",
        Targets=[
            {"Id": "event", "Arn": hook},
            {"Id": "path", "Arn": hook, "InputPath": "$.detail.a"},
            {"Id": "shaped", "Arn": hook, "InputTransformer": shaped},
            {"Id": "sink", "Arn": f"arn:aws:events:us-east-1:{account}:event-bus/deep-sink"},
        ],
    )
    detail = '{"order":7,"a":' + nested(999) + "}"  # 1,000 levels
    result = events.put_events(Entries=[{**entry(), "Detail": detail}])
    assert result["FailedEntryCount"] == 0
    event_id = result["Entries"][0]["EventId"]

    bodies = sorted(r.body.decode() for r in receiver.wait_for(f"/deep/{account}", 3))
    assert bodies[0] == nested(999)  # InputPath
    assert bodies[1] == '{"deep":' + nested(999) + "}"  # InputTransformer
    assert bodies[2].startswith('{"version":"0","id":"' + event_id + '",')
    assert bodies[2].endswith(',"detail":' + detail + "}")
    # The test's own json module would not read so deep a document: orjson reads 1,024 levels.
    found = orjson.loads(httpx.get(f"{server.url}/_eventyard/deliveries", params={"event_id": event_id}).text)
    assert {d["target_id"]: d["state"] for d in found["deliveries"]} == dict.fromkeys(
        ("event", "path", "shaped", "sink"), "delivered"
    )
    stored = found["events"][0]["event"]["detail"]["a"]
    for _ in range(998):
        stored = stored["a"]
    assert stored == {"a": 1}


def test_limits_that_fail_the_whole_request(events, server):
    with pytest.raises(ClientError) as excinfo:
        events.put_events(Entries=[entry()] * 11)
    code, message, status = error_of(excinfo)
    assert (code, status) == ("ValidationException", 400)
    assert (
        "at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10"
        in message
    )
    # boto3 refuses an empty list itself; a raw request gets AWS's answer.
    response = httpx.post(
        server.url,
        content=b'{"Entries": []}',
        headers={"X-Amz-Target": "AWSEvents.PutEvents", "Content-Type": "application/x-amz-json-1.1"},
    )
    assert response.status_code == 400
    assert response.json()["__type"] == "ValidationException"
    assert "Member must have length greater than or equal to 1" in response.json()["message"]
    assert events.put_events(Entries=[entry()] * 10)["FailedEntryCount"] == 0


def test_a_request_where_no_entry_has_source_detail_type_and_detail_fails_whole(events):
    with pytest.raises(ClientError) as excinfo:
        events.put_events(Entries=[{"Source": "a", "DetailType": "b"}, {"Detail": "{}"}])
    code, _, status = error_of(excinfo)
    assert (code, status) == ("ValidationException", 400)
    # One complete entry is enough for per-entry results, even if its Detail is malformed.
    result = events.put_events(Entries=[{"Source": "a", "DetailType": "b"}, entry(detail="[]")])
    assert [e["ErrorCode"] for e in result["Entries"]] == ["InvalidArgument", "MalformedDetail"]


def test_total_entry_size_is_counted_as_aws_counts_it(events):
    limit = 1024 * 1024  # the default, as AWS announced in January 2026
    # Time counts 14 bytes; Source, DetailType, Detail and each resource their UTF-8 bytes (é is 2).
    fixed = 14 + len("src") + len("type") + len("é".encode()) + len("arn:r1")
    body = '{"a":"' + "x" * (limit - fixed - len('{"a":""}')) + '"}'
    big = {
        "Time": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "Source": "src",
        "DetailType": "type",
        "Detail": body,
        "Resources": ["é", "arn:r1"],
    }
    assert events.put_events(Entries=[big])["FailedEntryCount"] == 0  # exactly at the limit
    with pytest.raises(ClientError) as excinfo:
        events.put_events(Entries=[{**big, "Resources": ["é", "arn:r12"]}])
    code, message, _ = error_of(excinfo)
    assert (code, message) == (
        "ValidationException",
        "Total size of the entries in the request is over the limit.",
    )
    # The limit holds for the request as a whole: two entries of 600 KB are over it.
    half = entry(detail='{"a":"' + "x" * 600_000 + '"}')
    with pytest.raises(ClientError):
        events.put_events(Entries=[half, half])


def test_classic_256_kib_limit_by_flag(tmp_path):
    server = ServerProcess(f"sqlite:///{tmp_path / 's.db'}", "--max-entry-size", "262144").start()
    try:
        client = server.client(account=new_account())
        fits = entry(detail='{"a":"' + "x" * (262144 - 60) + '"}')
        assert client.put_events(Entries=[fits])["FailedEntryCount"] == 0
        with pytest.raises(ClientError) as excinfo:
            client.put_events(Entries=[entry(detail='{"a":"' + "x" * 262144 + '"}')])
        assert error_of(excinfo)[1] == "Total size of the entries in the request is over the limit."
    finally:
        server.stop()


def test_the_stored_event_is_the_standard_envelope(events, server, account):
    when = dt.datetime(2025, 6, 7, 8, 9, 10, 123456, tzinfo=dt.UTC)
    result = events.put_events(
        Entries=[entry(detail='{"order": {"id": 7, "total": 12.5}}', Time=when, Resources=["arn:aws:x:1"])]
    )
    event_id = result["Entries"][0]["EventId"]
    stored = events_on(server, event_id)
    bus_arn = f"arn:aws:events:us-east-1:{account}:event-bus/default"
    assert list(stored) == [bus_arn]
    event = stored[bus_arn]
    assert list(event) == [
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    ]
    assert event == {
        "version": "0",
        "id": event_id,
        "detail-type": "OrderPlaced",
        "source": "com.example.shop",
        "account": account,
        "time": "2025-06-07T08:09:10Z",
        "region": "us-east-1",
        "resources": ["arn:aws:x:1"],
        "detail": {"order": {"id": 7, "total": 12.5}},
    }
    assert deliveries_of(server, event_id)["deliveries"] == []  # no rule: nothing to deliver


def test_time_defaults_to_the_time_of_the_call(events, server):
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    event_id = events.put_events(Entries=[entry()])["Entries"][0]["EventId"]
    after = dt.datetime.now(dt.UTC)
    (event,) = events_on(server, event_id).values()
    moment = dt.datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert before <= moment <= after
    assert event["resources"] == []


def test_event_bus_by_name_or_arn(events, server, account):
    events.create_event_bus(Name="orders")
    arn = f"arn:aws:events:us-east-1:{account}:event-bus/orders"
    by_name, by_arn = events.put_events(Entries=[entry(EventBusName="orders"), entry(EventBusName=arn)])[
        "Entries"
    ]
    assert list(events_on(server, by_name["EventId"])) == [arn]
    assert list(events_on(server, by_arn["EventId"])) == [arn]


def test_a_missing_bus_takes_the_event_and_drops_it_as_aws_does(events, server):
    result = events.put_events(Entries=[entry(EventBusName="no-such-bus")])
    assert result["FailedEntryCount"] == 0
    assert deliveries_of(server, result["Entries"][0]["EventId"]) is None


def test_partner_buses_are_refused_by_name_and_by_arn(events, account):
    for name in (
        "aws.partner/example.com/123/orders",
        f"arn:aws:events:us-east-1:{account}:event-bus/aws.partner/a/b",
    ):
        with pytest.raises(ClientError) as excinfo:
            events.put_events(Entries=[entry(EventBusName=name)])
        code, message, _ = error_of(excinfo)
        assert code == "ValidationException"
        assert "eventBusName" in message


def test_another_accounts_bus_needs_its_policy(client_for, server):
    owner, sender = new_account(), new_account()
    receiver = client_for(owner)
    receiver.create_event_bus(Name="central")
    bus_arn = f"arn:aws:events:us-east-1:{owner}:event-bus/central"
    sending = client_for(sender)
    refused = sending.put_events(Entries=[entry(EventBusName=bus_arn), entry()])
    assert refused["FailedEntryCount"] == 1
    assert refused["Entries"][0]["ErrorCode"] == "AccessDeniedException"
    assert bus_arn in refused["Entries"][0]["ErrorMessage"]
    assert "EventId" in refused["Entries"][1]

    receiver.put_permission(
        EventBusName="central", Action="events:PutEvents", Principal=sender, StatementId="s"
    )
    accepted = sending.put_events(Entries=[entry(EventBusName=bus_arn)])
    assert accepted["FailedEntryCount"] == 0
    stored = events_on(server, accepted["Entries"][0]["EventId"])
    assert stored[bus_arn]["account"] == sender  # the event keeps the sender's account

    receiver.remove_permission(EventBusName="central", StatementId="s")
    again = sending.put_events(Entries=[entry(EventBusName=bus_arn)])
    assert again["Entries"][0]["ErrorCode"] == "AccessDeniedException"


def test_a_permission_whose_condition_eventyard_cannot_evaluate_lets_nobody_in(client_for):
    owner, sender = new_account(), new_account()
    receiver = client_for(owner)
    bus_arn = f"arn:aws:events:us-east-1:{owner}:event-bus/default"
    receiver.put_permission(
        Action="events:PutEvents",
        Principal="*",
        StatementId="org-like",
        Condition={"Type": "StringLike", "Key": "aws:PrincipalOrgID", "Value": "o-*"},
    )
    refused = client_for(sender).put_events(Entries=[entry(EventBusName=bus_arn)])
    assert refused["Entries"][0]["ErrorCode"] == "AccessDeniedException"


def test_a_policy_may_allow_some_sources_and_deny_others_entry_by_entry(client_for, server):
    """The User Guide's example policy (events:source and events:detail-type conditions), plus a Deny."""
    owner, sender = new_account(), new_account()
    receiver = client_for(owner)
    receiver.create_event_bus(Name="central")
    bus_arn = f"arn:aws:events:us-east-1:{owner}:event-bus/central"
    principal = {"AWS": f"arn:aws:iam::{sender}:root"}
    statements = [
        {
            "Sid": "WebStoreCrossAccountPublish",
            "Effect": "Allow",
            "Action": ["events:PutEvents"],
            "Principal": principal,
            "Resource": bus_arn,
            "Condition": {
                "ForAllValues:StringEquals": {"events:source": "com.exampleCorp.webStore"},
                "StringLike": {"events:detail-type": "newOrder*"},
            },
        },
        {
            "Sid": "NoTestOrders",
            "Effect": "Deny",
            "Action": "events:*",
            "Principal": "*",
            "Resource": bus_arn,
            "Condition": {"StringEquals": {"events:detail-type": "newOrderTest"}},
        },
    ]
    put_policy(receiver, *statements, bus="central")
    web = {"EventBusName": bus_arn, "Source": "com.exampleCorp.webStore"}
    result = client_for(sender).put_events(
        Entries=[
            entry(**web, DetailType="newOrderCreated"),
            entry(**web, DetailType="orderShipped"),
            entry(EventBusName=bus_arn, Source="com.exampleCorp.other", DetailType="newOrderCreated"),
            entry(**web, DetailType="newOrderTest"),
        ]
    )
    accepted, *refused = result["Entries"]
    assert result["FailedEntryCount"] == 3
    assert events_on(server, accepted["EventId"])[bus_arn]["detail-type"] == "newOrderCreated"
    assert [r["ErrorCode"] for r in refused] == ["AccessDeniedException"] * 3
    assert refused[0]["ErrorMessage"].endswith(
        "because no resource-based policy allows the events:PutEvents action"
    )
    assert refused[2]["ErrorMessage"] == (
        f"User: arn:aws:iam::{sender}:root is not authorized to perform: events:PutEvents on resource: "
        f"{bus_arn} with an explicit deny in a resource-based policy"
    )


def test_policy_actions_match_in_any_case_and_with_wildcards(client_for, server):
    """IAM reads an Action's prefix and name in any case, with * and ?: a Deny of events:putevent? denies."""
    owner, sender = new_account(), new_account()
    receiver = client_for(owner)
    bus_arn = f"arn:aws:events:us-east-1:{owner}:event-bus/default"
    statements = [
        {"Effect": "Allow", "Principal": {"AWS": sender}, "Action": "EVENTS:Put*", "Resource": bus_arn},
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["events:DescribeRule", "events:putevent?"],
            "Resource": bus_arn,
            "Condition": {"StringEquals": {"events:detail-type": "Blocked"}},
        },
    ]
    put_policy(receiver, *statements)
    result = client_for(sender).put_events(
        Entries=[entry(EventBusName=bus_arn), entry(EventBusName=bus_arn, DetailType="Blocked")]
    )
    accepted, denied = result["Entries"]
    assert events_on(server, accepted["EventId"])[bus_arn]["account"] == sender
    assert denied["ErrorCode"] == "AccessDeniedException"
    assert denied["ErrorMessage"].endswith("with an explicit deny in a resource-based policy")


def test_not_resource_and_not_action_exclude_what_they_list(client_for, server):
    """A policy letting another account do anything but manage rules (NotResource), and denying it anything
    but PutEvents and DescribeRule (NotAction): it puts events, and may not create a rule."""
    owner, sender = new_account(), new_account()
    receiver = client_for(owner)
    receiver.create_event_bus(Name="central")
    bus_arn = f"arn:aws:events:us-east-1:{owner}:event-bus/central"
    statements = [
        {
            "Effect": "Allow",
            "Principal": {"AWS": sender},
            "Action": "events:*",
            "NotResource": f"arn:aws:events:us-east-1:{owner}:rule/central/*",
        },
        {"Effect": "Deny", "Principal": "*", "NotAction": ["events:PutEvents", "events:DescribeRule"]},
    ]
    put_policy(receiver, *statements, bus="central")
    sending = client_for(sender)
    accepted = sending.put_events(Entries=[entry(EventBusName=bus_arn)])["Entries"][0]
    assert events_on(server, accepted["EventId"])[bus_arn]["account"] == sender
    for call in (
        lambda: sending.put_rule(Name="mine", EventBusName=bus_arn, EventPattern='{"source": ["a"]}'),
        lambda: sending.describe_rule(Name="mine", EventBusName=bus_arn),
        lambda: sending.list_rules(EventBusName=bus_arn),
    ):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_of(excinfo)[0] == "AccessDeniedException"


def test_the_star_variable_is_a_star_not_a_wildcard(client_for):
    """IAM's ${*} stands for the character *: a policy for the source "com.example.*" lets in no other."""
    owner, sender = new_account(), new_account()
    client_for(owner).put_permission(
        Action="events:PutEvents",
        Principal="*",
        StatementId="literal",
        Condition={"Type": "StringLike", "Key": "events:source", "Value": "com.example.${*}"},
    )
    bus_arn = f"arn:aws:events:us-east-1:{owner}:event-bus/default"
    result = client_for(sender).put_events(
        Entries=[
            entry(EventBusName=bus_arn, Source="com.example.*"),
            entry(EventBusName=bus_arn, Source="com.example.shop"),
        ]
    )
    assert "EventId" in result["Entries"][0]
    assert result["Entries"][1]["ErrorCode"] == "AccessDeniedException"


def test_the_aws_cli_puts_events(server, account, tmp_path):
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": account,
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    entries = json.dumps([entry(), {"Source": "a"}])
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "awscli",
            "events",
            "put-events",
            "--endpoint-url",
            server.url,
            "--entries",
            entries,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer = json.loads(out.stdout)
    assert answer["FailedEntryCount"] == 1
    assert answer["Entries"][1] == {"ErrorCode": "InvalidArgument", "ErrorMessage": DETAIL_TYPE_REQUIRED}
