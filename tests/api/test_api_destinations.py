"""API destinations through the real server with boto3: create, describe, list, update, delete and errors."""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError

from tests.api.helpers import error_of

BASIC = {"BasicAuthParameters": {"Username": "ada", "Password": "pa55word"}}


def connection(events, name: str = "conn") -> str:
    created = events.create_connection(Name=name, AuthorizationType="BASIC", AuthParameters=BASIC)
    return str(created["ConnectionArn"])


def test_create_describe_update_and_delete(events, account):
    conn = connection(events)
    created = events.create_api_destination(
        Name="hook",
        Description="the hook",
        ConnectionArn=conn,
        InvocationEndpoint="https://example.com/hooks/*",
        HttpMethod="POST",
    )
    arn = created["ApiDestinationArn"]
    assert re.fullmatch(rf"arn:aws:events:us-east-1:{account}:api-destination/hook/[0-9a-f-]{{36}}", arn)
    assert created["ApiDestinationState"] == "ACTIVE"
    described = events.describe_api_destination(Name="hook")
    assert {k: v for k, v in described.items() if k != "ResponseMetadata"} == {
        "ApiDestinationArn": arn,
        "Name": "hook",
        "Description": "the hook",
        "ApiDestinationState": "ACTIVE",
        "ConnectionArn": conn,
        "InvocationEndpoint": "https://example.com/hooks/*",
        "HttpMethod": "POST",
        "InvocationRateLimitPerSecond": 300,  # AWS's default quota, reported when none is set
        "CreationTime": created["CreationTime"],
        "LastModifiedTime": created["LastModifiedTime"],
    }
    other = connection(events, "other")
    updated = events.update_api_destination(
        Name="hook",
        Description="v2",
        ConnectionArn=other,
        InvocationEndpoint="https://example.com/v2",
        HttpMethod="PUT",
        InvocationRateLimitPerSecond=10,
    )
    assert updated["ApiDestinationArn"] == arn and updated["ApiDestinationState"] == "ACTIVE"
    described = events.describe_api_destination(Name="hook")
    assert (described["Description"], described["ConnectionArn"], described["HttpMethod"]) == (
        "v2",
        other,
        "PUT",
    )
    assert (described["InvocationEndpoint"], described["InvocationRateLimitPerSecond"]) == (
        "https://example.com/v2",
        10,
    )
    events.delete_api_destination(Name="hook")
    with pytest.raises(ClientError) as excinfo:
        events.describe_api_destination(Name="hook")
    assert error_of(excinfo) == (
        "ResourceNotFoundException",
        "Failed to describe the api-destination(s). An api-destination 'hook' does not exist.",
        400,
    )


def test_the_state_follows_the_connection(events):
    conn = connection(events)
    events.create_api_destination(
        Name="follows", ConnectionArn=conn, InvocationEndpoint="https://example.com", HttpMethod="POST"
    )
    events.deauthorize_connection(Name="conn")
    assert events.describe_api_destination(Name="follows")["ApiDestinationState"] == "INACTIVE"
    listed = events.list_api_destinations()["ApiDestinations"]
    assert [d["ApiDestinationState"] for d in listed] == ["INACTIVE"]
    events.update_connection(Name="conn", AuthParameters=BASIC)
    assert events.describe_api_destination(Name="follows")["ApiDestinationState"] == "ACTIVE"


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://127.1.2.3/x",
        "https://api.example.com/a",
    ],
)
def test_https_or_loopback_http_endpoints_are_accepted(events, endpoint):
    conn = connection(events)
    events.create_api_destination(
        Name="ok", ConnectionArn=conn, InvocationEndpoint=endpoint, HttpMethod="GET"
    )
    assert events.describe_api_destination(Name="ok")["InvocationEndpoint"] == endpoint


@pytest.mark.parametrize(
    "endpoint", ["http://example.com/hook", "http://10.0.0.1/hook", "ftp://example.com/x"]
)
def test_other_endpoints_must_use_https(events, endpoint):
    conn = connection(events)
    with pytest.raises(ClientError) as excinfo:
        events.create_api_destination(
            Name="bad", ConnectionArn=conn, InvocationEndpoint=endpoint, HttpMethod="GET"
        )
    code, message, _ = error_of(excinfo)
    assert code == "ValidationException" and "https://" in message
    events.create_api_destination(
        Name="good", ConnectionArn=conn, InvocationEndpoint="https://example.com", HttpMethod="GET"
    )
    with pytest.raises(ClientError) as excinfo:
        events.update_api_destination(Name="good", InvocationEndpoint=endpoint)
    assert error_of(excinfo)[0] == "ValidationException"


def test_the_connection_must_exist(events, account):
    missing = f"arn:aws:events:us-east-1:{account}:connection/ghost/00000000-0000-0000-0000-000000000000"
    with pytest.raises(ClientError) as excinfo:
        events.create_api_destination(
            Name="orphan", ConnectionArn=missing, InvocationEndpoint="https://example.com", HttpMethod="POST"
        )
    assert error_of(excinfo)[:2] == ("ResourceNotFoundException", "Connection 'ghost' does not exist.")
    conn = connection(events, "ghost")  # same name, another ARN: still not the one named
    with pytest.raises(ClientError) as excinfo:
        events.create_api_destination(
            Name="orphan", ConnectionArn=missing, InvocationEndpoint="https://example.com", HttpMethod="POST"
        )
    assert error_of(excinfo)[0] == "ResourceNotFoundException"
    events.create_api_destination(
        Name="orphan", ConnectionArn=conn, InvocationEndpoint="https://example.com", HttpMethod="POST"
    )
    with pytest.raises(ClientError) as excinfo:
        events.update_api_destination(Name="orphan", ConnectionArn=missing)
    assert error_of(excinfo)[0] == "ResourceNotFoundException"
    assert events.describe_api_destination(Name="orphan")["ConnectionArn"] == conn


def test_creating_twice_is_refused(events):
    conn = connection(events)
    events.create_api_destination(
        Name="dup", ConnectionArn=conn, InvocationEndpoint="https://a.example", HttpMethod="POST"
    )
    with pytest.raises(ClientError) as excinfo:
        events.create_api_destination(
            Name="dup", ConnectionArn=conn, InvocationEndpoint="https://a.example", HttpMethod="POST"
        )
    assert error_of(excinfo)[0] == "ResourceAlreadyExistsException"


@pytest.mark.parametrize(
    "call", ["describe_api_destination", "delete_api_destination", "update_api_destination"]
)
def test_missing_api_destinations_are_not_found(events, call):
    with pytest.raises(ClientError) as excinfo:
        getattr(events, call)(Name="nothing")
    assert error_of(excinfo)[:2] == (
        "ResourceNotFoundException",
        "Failed to describe the api-destination(s). An api-destination 'nothing' does not exist.",
    )


def test_the_model_constraints_are_enforced(events):
    conn = connection(events)
    with pytest.raises(ClientError) as excinfo:
        events.create_api_destination(
            Name="m", ConnectionArn=conn, InvocationEndpoint="https://a.example", HttpMethod="CONNECT"
        )
    assert error_of(excinfo)[1] == (
        "1 validation error detected: Value 'CONNECT' at 'httpMethod' failed to satisfy constraint: "
        "Member must satisfy enum value set: [POST, GET, HEAD, OPTIONS, PUT, PATCH, DELETE]"
    )
    with pytest.raises(ClientError) as excinfo:
        events.create_api_destination(
            Name="m",
            ConnectionArn="not-an-arn",
            InvocationEndpoint="https://a.example",
            HttpMethod="TRACE",
        )
    code, message, _ = error_of(excinfo)
    assert code == "ValidationException" and message.startswith("2 validation errors detected")
    assert "'connectionArn'" in message and "'httpMethod'" in message


def test_list_filters_and_pages(events):
    first, second = connection(events, "first"), connection(events, "second")
    for name, conn in (("dest-a", first), ("dest-b", second), ("dest-c", first), ("zzz", first)):
        events.create_api_destination(
            Name=name, ConnectionArn=conn, InvocationEndpoint="https://a.example", HttpMethod="POST"
        )
    listed = events.list_api_destinations(NamePrefix="dest-")["ApiDestinations"]
    assert [d["Name"] for d in listed] == ["dest-a", "dest-b", "dest-c"]
    assert "Description" not in listed[0] and listed[0]["InvocationRateLimitPerSecond"] == 300
    by_connection = events.list_api_destinations(ConnectionArn=first)["ApiDestinations"]
    assert [d["Name"] for d in by_connection] == ["dest-a", "dest-c", "zzz"]
    page = events.list_api_destinations(Limit=3)
    assert [d["Name"] for d in page["ApiDestinations"]] == ["dest-a", "dest-b", "dest-c"]
    rest = events.list_api_destinations(Limit=3, NextToken=page["NextToken"])
    assert [d["Name"] for d in rest["ApiDestinations"]] == ["zzz"] and "NextToken" not in rest
    with pytest.raises(ClientError) as excinfo:
        events.list_api_destinations(NextToken=page["NextToken"] + "x")
    assert error_of(excinfo)[0] == "InvalidToken"
