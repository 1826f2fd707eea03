"""The wire protocol: AWS JSON 1.1 framing, model-driven validation and serialization, clean errors."""

from __future__ import annotations

import botocore.session
import httpx
import orjson
import pytest
from botocore.exceptions import ClientError

from eventyard.operations.registry import load_all
from tests.api.helpers import signed

JSON_11 = "application/x-amz-json-1.1"


def call(
    server, operation: str, body: bytes | str | dict, content_type: str = JSON_11, auth: str | None = None
):
    headers = {"X-Amz-Target": f"AWSEvents.{operation}", "Content-Type": content_type}
    if auth:
        headers["Authorization"] = auth
    payload = orjson.dumps(body) if isinstance(body, dict) else body
    return httpx.post(server.url + "/", content=payload, headers=headers, timeout=10)


def test_every_model_operation_reaches_a_handler_or_a_clear_not_implemented_error(server):
    model = botocore.session.get_session().get_service_model("events")
    implemented = set(load_all())
    assert implemented <= set(model.operation_names)
    for name in model.operation_names:
        response = call(server, name, b"{}")
        assert response.headers["content-type"] == JSON_11
        assert response.headers["x-amzn-requestid"]
        body = response.json()
        if name in implemented:
            assert body.get("__type") != "NotImplementedException", name
            assert response.status_code in (200, 400), (name, body)
        else:
            assert response.status_code == 501
            assert body["__type"] == "NotImplementedException"
            assert name in body["message"]


def test_unknown_operation(server):
    response = call(server, "MakeCoffee", b"{}")
    assert response.status_code == 400
    assert response.json()["__type"] == "UnknownOperationException"
    missing = httpx.post(server.url + "/", content=b"{}", headers={"Content-Type": JSON_11})
    assert missing.json()["__type"] == "UnknownOperationException"


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_malformed_bodies_are_serialization_errors(server, body):
    response = call(server, "ListEventBuses", body)
    assert response.status_code == 400
    assert response.json()["__type"] == "SerializationException"


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("ListEventBuses", {"Limit": "ten"}),
        ("ListEventBuses", {"NamePrefix": 5}),
        ("PutTargets", {"Rule": "r", "Targets": {"Id": "x"}}),
        ("PutRule", {"Name": ["r"]}),
        ("DeleteRule", {"Name": "r", "Force": "yes"}),
    ],
)
def test_wrong_json_types_are_serialization_errors(server, operation, body):
    response = call(server, operation, body)
    assert response.status_code == 400
    assert response.json()["__type"] == "SerializationException"


def test_validation_message_format_is_aws(server):
    response = call(server, "PutRule", {"Name": "bad name!", "EventPattern": "{}"})
    assert response.status_code == 400
    body = response.json()
    assert body["__type"] == "ValidationException"
    assert body["message"] == (
        "1 validation error detected: Value 'bad name!' at 'name' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+"
    )


def test_several_validation_errors_are_reported_together(server):
    response = call(server, "PutRule", {"Name": "x" * 65, "State": "ON", "EventPattern": "{}"})
    body = response.json()
    assert body["__type"] == "ValidationException"
    assert body["message"].startswith("2 validation errors detected: ")
    assert (
        "at 'name' failed to satisfy constraint: Member must have length less than or equal to 64"
        in body["message"]
    )
    assert "at 'state' failed to satisfy constraint: Member must satisfy enum value set: [" in body["message"]
    assert "; Value " in body["message"]


def test_required_members_and_nested_paths(server):
    response = call(server, "PutTargets", {"Rule": "r", "Targets": [{"Id": "t"}]})
    body = response.json()
    assert body["__type"] == "ValidationException"
    assert (
        "Value null at 'targets.1.member.arn' failed to satisfy constraint: Member must not be null"
        in body["message"]
    )
    limits = call(server, "ListEventBuses", {"Limit": 101})
    assert "Member must have value less than or equal to 100" in limits.json()["message"]


def test_plain_json_content_type_is_accepted(server):
    response = call(server, "ListEventBuses", b"{}", content_type="application/json")
    assert response.status_code == 200
    assert response.json()["EventBuses"][0]["Name"] == "default"


def test_caller_account_and_region_come_from_sigv4(server, account):
    response = call(server, "DescribeEventBus", b"{}", auth=signed(account, "ap-south-1"))
    assert response.json()["Arn"] == f"arn:aws:events:ap-south-1:{account}:event-bus/default"
    anonymous = call(server, "DescribeEventBus", b"{}", auth=signed("AKIAEXAMPLE", "eu-west-2"))
    assert anonymous.json()["Arn"] == "arn:aws:events:eu-west-2:123456789012:event-bus/default"
    unsigned = call(server, "DescribeEventBus", b"{}")
    assert unsigned.json()["Arn"] == "arn:aws:events:us-east-1:123456789012:event-bus/default"


@pytest.mark.parametrize("region", ["a:b", "us-east-1:x", "US-EAST-1", "eu_west_1", "x" * 60])
def test_a_credential_scope_naming_no_region_is_refused(server, account, region):
    """A ":" in the Region would break every ARN formed from it; AWS answers a scope of no valid
    Region with InvalidSignatureException (403), before it looks at the input."""
    response = call(server, "DescribeEventBus", b"not even json", auth=signed(account, region))
    assert response.status_code == 403
    assert response.json() == {
        "__type": "InvalidSignatureException",
        "message": f"Credential should be scoped to a valid region, not '{region}'.",
    }
    made_up = call(server, "DescribeEventBus", b"{}", auth=signed(account, "local"))
    assert made_up.json()["Arn"] == f"arn:aws:events:local:{account}:event-bus/default"


def test_timestamps_are_epoch_seconds_and_nulls_are_omitted(server, account):
    raw = call(server, "DescribeEventBus", b"{}", auth=signed(account)).json()
    assert isinstance(raw["CreationTime"], int | float)
    assert "Description" not in raw and "Policy" not in raw


def test_boto3_sees_modelled_errors_as_classes(events):
    with pytest.raises(events.exceptions.ResourceNotFoundException):
        events.describe_rule(Name="missing")
    with pytest.raises(ClientError) as excinfo:
        events.describe_event_bus(Name="missing")
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_health_and_unknown_paths(server):
    assert httpx.get(server.url + "/health").json()["status"] == "ok"
    response = httpx.get(server.url + "/nothing-here")
    assert response.status_code == 404
    assert response.json()["__type"]


@pytest.mark.parametrize(
    ("operation", "body", "message"),
    [
        # Timestamps: AWS's range is years 1 to 9999, in UTC.
        (
            "PutEvents",
            {"Entries": [{"Time": -62135596801}]},
            "Timestamp out of range at 'entries.1.member.time'.",
        ),
        (
            "PutEvents",
            {"Entries": [{"Time": 253402300800}]},
            "Timestamp out of range at 'entries.1.member.time'.",
        ),
        (
            "PutEvents",
            {
                "Entries": [
                    {"Source": "s", "DetailType": "d", "Detail": "{}", "Time": "0001-01-01T00:00:00+01:00"}
                ]
            },
            "Timestamp out of range at 'entries.1.member.time'.",
        ),
        (
            "PutEvents",
            {
                "Entries": [
                    {"Source": "s", "DetailType": "d", "Detail": "{}", "Time": "9999-12-31T23:59:59-01:00"}
                ]
            },
            "Timestamp out of range at 'entries.1.member.time'.",
        ),
        # Numbers: an Integer is a Java int, a Long a Java long.
        ("ListEventBuses", {"Limit": 2**31}, "Number out of range at 'limit': 2147483648."),
        ("ListEventBuses", {"Limit": 1e20}, "Number out of range at 'limit': 100000000000000000000."),
    ],
)
def test_values_beyond_what_aws_can_hold_are_serialization_errors(server, operation, body, message):
    response = call(server, operation, body)
    assert (response.status_code, response.json()) == (
        400,
        {"__type": "SerializationException", "message": message},
    )


def test_the_one_java_only_pattern_of_the_model_is_checked(server, account):
    """RunCommandTargetKey's pattern uses Unicode classes (\\p{L}) that Python's `re` lacks."""
    events = {"Source": "s", "DetailType": "d", "Detail": "{}"}
    assert call(server, "PutEvents", {"Entries": [events]}, auth=signed(account)).status_code == 200
    rule = call(server, "PutRule", {"Name": "run", "EventPattern": '{"source": ["s"]}'}, auth=signed(account))
    assert rule.status_code == 200

    def target(key: str) -> dict:
        parameters = {"RunCommandTargets": [{"Key": key, "Values": ["i-0123456789abcdef0"]}]}
        arn = f"arn:aws:ssm:us-east-1:{account}:document/AWS-RunShellScript"
        return {"Rule": "run", "Targets": [{"Id": "t", "Arn": arn, "RunCommandParameters": parameters}]}

    assert call(server, "PutTargets", target("tag:Nämé 1/ok"), auth=signed(account)).status_code == 200
    refused = call(server, "PutTargets", target("tag;Name"), auth=signed(account))
    assert refused.json()["__type"] == "ValidationException"
    assert (
        "at 'targets.1.member.runCommandParameters.runCommandTargets.1.member.key'"
        in refused.json()["message"]
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", "/_eventyard/deliveries?event_id=%00", None, 404, "ResourceNotFoundException"),
        ("POST", "/_eventyard/clock", {"advance": 3e11}, 400, "ValidationException"),
        ("POST", "/_eventyard/clock", {"advance": -1}, 400, "ValidationException"),
        (
            "POST",
            "/_eventyard/managed-rules",
            {"account": 1, "region": [], "rule": {}, "managed_by": None},
            400,
            "ValidationException",
        ),
        (
            "POST",
            "/_eventyard/managed-rules",
            {"account": "1", "region": "r", "rule": "r", "bus": 5, "managed_by": "x"},
            400,
            "ValidationException",
        ),
        (
            "POST",
            "/_eventyard/managed-rules",
            {"account": "\u0000", "region": "r", "rule": "r", "managed_by": "x"},
            None,  # SQLite: no such rule (404); PostgreSQL cannot even look for it (400)
            None,
        ),
    ],
)
def test_operator_routes_answer_bad_input_with_errors(server, method, path, body, status, code):
    response = httpx.request(method, server.url + path, json=body, timeout=10)
    assert response.status_code == status if status else response.status_code in (400, 404)
    if code:
        assert response.json()["__type"] == code
    else:
        assert response.json()["__type"] in ("ResourceNotFoundException", "ValidationException")
    clock = httpx.post(server.url + "/_eventyard/clock", json={"advance": 0}, timeout=10)
    assert clock.status_code == 200  # the clock was not moved out of range
    events = call(server, "PutEvents", {"Entries": [{"Source": "s", "DetailType": "d", "Detail": "{}"}]})
    assert events.status_code == 200
